"""The lab's list of services, without a running lab: reading it changes nothing on disk."""

from jukebox.lab import services, settings


def test_listing_the_services_only_reads_and_starting_one_prepares_what_it_needs(tmp_path):
    base = 30000
    lab = settings.LabSettings(home=tmp_path / "lab", ports=settings.default_ports(base), users=["user1", "user2"])
    settings.participant_ports(lab, base)
    found = {service.name: service for service in services.services(lab)}
    assert {"s3", "s3-user2", "mlflow", "controller", "jupyter", "feast-ui"} <= set(found)
    assert not lab.home.exists(), "status, down and reset list the services: that writes nothing"
    lab.home.mkdir()
    found["s3-user2"].prepare()  # what `up` does just before it starts the process
    assert (lab.home / "s3-user2" / "data").is_dir() and (lab.home / "s3-user2-identities.json").is_file()
    assert not (lab.home / "s3").exists(), "one service's preparation is its own"
    found["controller"].prepare()
    assert (lab.home / "feast").is_dir(), "the workbench's feature store has its folder once the lab is up"
