"""The service across hosts (issue 17): network namespaces on this machine.

The plan (names, addresses, `ip` commands) is checked everywhere; building and removing the
network, and the database host's forwarder, where the test runs as root with `ip`. The whole
run (`make multihost`: db, simulator, web and two worker hosts, one killed mid-fan-out) is
the last test, marked slow: exactly one order per follower, the killed host's claims taken
back by the sweeper, and nothing of the network left afterwards.
"""

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from devtools import multihost
from devtools.multihost import Host, MultihostError, Network
from devtools.netforward import parse_listen
from devtools.processes import BASE_DIR, in_netns, wait_until

needs_namespaces = pytest.mark.skipif(multihost.requirements_missing() is not None, reason=f"{multihost.requirements_missing()}")


def test_each_host_gets_a_private_address_after_the_bridge_and_short_link_names():
    hosts = multihost.plan()

    assert [(h.name, h.address) for h in hosts] == [
        ("db", "10.213.0.2"),
        ("sim", "10.213.0.3"),
        ("web", "10.213.0.4"),
        ("wa", "10.213.0.5"),
        ("wb", "10.213.0.6"),
    ]
    assert multihost.bridge_address() == "10.213.0.1"
    assert all(ipaddress.ip_address(h.address) in multihost.SUBNET for h in hosts)
    assert all(h.netns.startswith(multihost.PREFIX) and len(h.veth_peer) <= 15 for h in hosts)


@pytest.mark.parametrize(
    "names, subnet, why",
    [
        (["db", "db"], "10.213.0.0/24", "repeat"),
        (["a-very-long-name"], "10.213.0.0/24", "letters and digits"),
        (["db; rm"], "10.213.0.0/24", "letters and digits"),
        (["db"], "8.8.8.0/24", "not a private network"),
        (["a", "b", "c"], "10.213.0.0/30", "no room"),
    ],
)
def test_a_plan_it_could_not_build_safely_is_refused(names, subnet, why):
    with pytest.raises(MultihostError, match=why):
        multihost.plan(names, subnet=ipaddress.ip_network(subnet))


def test_the_setup_joins_every_namespace_to_the_bridge_with_its_own_address():
    hosts = multihost.plan(["db", "wa"])
    commands = [" ".join(command) for command in multihost.setup_commands(hosts)]

    assert commands[:3] == ["ip link add ct213-br type bridge", "ip addr add 10.213.0.1/24 dev ct213-br", "ip link set ct213-br up"]
    for host in hosts:
        assert f"ip netns add {host.netns}" in commands
        assert f"ip link set {host.veth} master ct213-br" in commands
        assert f"ip -n {host.netns} addr add {host.address}/24 dev eth0" in commands
        assert f"ip -n {host.netns} link set lo up" in commands
    # Every name it creates is one the clean-up recognises as its own, and only those.
    created = {word for command in multihost.setup_commands(hosts) for word in command if word.startswith("ct213")}
    assert set(multihost.ours([*created, "eth0", "docker0", "ct21-x", "lo"])) == created


def test_processes_run_inside_a_namespace_through_ip_netns_exec():
    assert in_netns("ct213-wa", ["celery", "worker"]) == ["ip", "netns", "exec", "ct213-wa", "celery", "worker"]
    assert in_netns(None, ["celery", "worker"]) == ["celery", "worker"]


def test_the_hosts_reach_the_database_at_the_db_host_with_the_same_credentials_and_name():
    url = "postgres://app:s%40cret@127.0.0.1:5432/test_copytrade?sslmode=disable"

    assert (
        multihost.namespaced_url(url, host="10.213.0.2", port=5432)
        == "postgres://app:s%40cret@10.213.0.2:5432/test_copytrade?sslmode=disable"
    )
    assert multihost.namespaced_url("postgres://127.0.0.1:5432/x", host="10.213.0.2", port=6543) == "postgres://10.213.0.2:6543/x"


def test_orders_are_counted_per_follower_account():
    orders = [{"api_key": key} for key in ["a", "b", "b", "b", "other"]]

    duplicates, missing, per_key = multihost.duplicates_and_missing(orders, api_keys=["a", "b", "c"])

    assert (duplicates, missing) == (2, 1)  # b twice too many, c never; another account's order does not count
    assert per_key == {"a": 1, "b": 3}


def test_the_forwarder_listens_on_an_address_and_port():
    assert parse_listen("10.213.0.2:5432") == ("10.213.0.2", 5432)
    for bad in ("10.213.0.2", ":5432", "10.213.0.2:0", "10.213.0.2:http"):
        with pytest.raises(Exception, match="ADDRESS:PORT"):
            parse_listen(bad)


def _our_leftovers() -> list[str]:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return multihost.ours(multihost.netns_names()) + [line for line in links.splitlines() if multihost.PREFIX in line]


@needs_namespaces
def test_the_network_carries_a_connection_from_host_to_host_and_is_removed_even_on_failure(tmp_path):
    """Built: a forwarder on the db host carries a connection from the bridge to a Unix socket
    (as it carries PostgreSQL's). Then the block fails with a process still running inside a
    namespace: the process is killed and every namespace and link of ours is gone."""
    socket_path = str(tmp_path / "echo.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(1)

    def echo_once():
        connection, _ = server.accept()
        with connection:
            connection.sendall(connection.recv(64).upper())

    threading.Thread(target=echo_once, daemon=True).start()
    db, wa = Host("db", "10.213.0.2"), Host("wa", "10.213.0.3")
    lingering = None
    with pytest.raises(RuntimeError, match="the run failed"), Network([db, wa]):
        assert set(multihost.ours(multihost.netns_names())) == {"ct213-db", "ct213-wa"}
        forwarder = subprocess.Popen(
            in_netns(db.netns, [sys.executable, "-m", "devtools.netforward", "--listen", f"{db.address}:7001", "--unix", socket_path]),
            cwd=BASE_DIR,
        )

        def echoed():
            try:
                with socket.create_connection((db.address, 7001), timeout=1) as client:
                    client.sendall(b"across hosts")
                    return client.recv(64)
            except OSError:
                return None

        assert wait_until(echoed, timeout=15, what="the forwarder on db", process=forwarder) == b"ACROSS HOSTS"
        lingering = subprocess.Popen(in_netns(wa.netns, [sys.executable, "-c", "import time; time.sleep(60)"]))
        wait_until(lambda: multihost.netns_pids(wa.netns), timeout=10, what="a process inside wa")
        raise RuntimeError("the run failed")
    assert lingering.wait(timeout=10) == -9 and forwarder.wait(timeout=10) == -9
    assert _our_leftovers() == []
    server.close()


@needs_namespaces
def test_leftovers_of_a_run_killed_outright_are_removed_before_the_next_and_two_runs_never_overlap():
    subprocess.run(["ip", "netns", "add", "ct213-db"], check=True)
    with Network([Host("db", "10.213.0.2")]):
        assert multihost.netns_names().count("ct213-db") == 1
        with pytest.raises(MultihostError, match="another multi-host run"), Network([Host("db", "10.213.0.2")]):
            pass
        assert "ct213-db" in multihost.netns_names()  # the refused run removed nothing
    assert _our_leftovers() == []


@needs_namespaces
@pytest.mark.deep
@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_fan_out_across_hosts_places_exactly_one_order_per_follower_when_a_worker_host_dies():
    followers = int(os.environ.get("MULTIHOST_FOLLOWERS", "120"))
    with tempfile.NamedTemporaryFile("w+", prefix="multihost-", suffix=".log") as log:
        figures = multihost.run(followers=followers, latency_ms=200, kill_after=0.3, timeout=120, log=log)
        print("\n".join(multihost.report_lines(figures)))

    assert (figures.orders, figures.duplicates, figures.missing) == (followers, 0, 0)
    assert figures.statuses == {"filled": followers}
    # Both worker hosts placed orders, from their own addresses; after the kill only wa did.
    assert figures.orders_by_host["wb"] > 0 and set(figures.orders_by_host) == {"wa", "wb"}
    assert figures.orders_by_host_after_kill["wb"] == 0 and figures.orders_by_host_after_kill["wa"] > 0
    # The kill fell mid-run, and the sweeper took back what the dead host left.
    assert figures.killed_pids and 0 < figures.orders_at_kill < followers
    assert figures.swept > 0 and figures.claims_taken_back > 0
    # Each worker host took its orders' per-IP tokens from a bucket of its own egress id.
    assert [key.rsplit(":", 1)[1] for key in figures.egress_buckets] == ["10.213.0.5", "10.213.0.6"]
    assert _our_leftovers() == []
