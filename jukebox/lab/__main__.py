from jukebox.lab.cli import main

main()
