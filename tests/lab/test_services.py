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


def test_labs_made_side_by_side_take_ports_in_lanes_that_never_meet():
    """make test's workers each make labs at the same time: each in its own lane of port blocks."""
    seen = {lane: {settings.free_port_base(lane=lane, lanes=3) for _ in range(40)} for lane in range(3)}
    for lane, bases in seen.items():
        others = set().union(*(seen[other] for other in seen if other != lane))
        assert bases and not bases & others, f"lane {lane} shares a block with another: {bases & others}"
        blocks = {range(base, base + settings.PORT_BLOCK) for base in bases}
        assert all(20000 <= block.start and block.stop <= settings.EPHEMERAL_PORTS_START for block in blocks)
