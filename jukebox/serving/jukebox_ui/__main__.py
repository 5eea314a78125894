from jukebox.serving.jukebox_ui.server import main

main()
