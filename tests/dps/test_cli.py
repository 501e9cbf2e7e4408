"""`python -m host_tools dps ...` on a stopped hub's data folder (the stored state)."""

import json

from host_tools.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_enroll_list_disable_show_registrations(tmp_path, capsys):
    data = str(tmp_path / "hub-data")
    code, out, _ = run(capsys, "dps", "enroll", "dev-1", "--sas", "--data", data)
    assert code == 0 and "primary key:" in out
    code, out, _ = run(capsys, "dps", "enrollment-group", "fleet", "--sas", "--data", data)
    assert code == 0 and "dps device-key fleet" in out
    assert run(capsys, "dps", "disable", "dev-1", "--data", data)[1] == "dev-1: disabled\n"
    code, out, _ = run(capsys, "dps", "list", "--data", data, "--json")
    listing = json.loads(out)
    assert [e["provisioningStatus"] for e in listing["enrollments"]] == ["disabled"]
    assert listing["enrollmentGroups"][0]["enrollmentGroupId"] == "fleet"
    code, out, _ = run(capsys, "dps", "show", "fleet", "--group", "--data", data)
    assert json.loads(out)["attestation"]["type"] == "symmetricKey"
    code, out, _ = run(capsys, "dps", "device-key", "fleet", "dev-9", "--data", data)
    assert code == 0 and len(out.strip()) == 44
    code, out, _ = run(capsys, "dps", "info", "--data", data)
    assert out.startswith("id scope: 0ne")
    assert run(capsys, "dps", "registrations", "--data", data, "--json")[1].strip() == "[]"


def test_cli_group_of_unknown_ca_is_one_line_error(tmp_path, capsys):
    data = str(tmp_path / "hub-data")
    run(capsys, "dps", "enroll", "dev-1", "--sas", "--data", data)
    code, _, err = run(capsys, "dps", "enrollment-group", "g", "--ca", "nope", "--data", data)
    assert code != 0 and err.count("\n") == 1 and "hub ca add nope" in err


def test_cli_enroll_cert_takes_its_sha256_and_refuses_an_expired_one(tmp_path, capsys):
    from tests.certs.conftest import write_custom_cert

    data = str(tmp_path / "hub-data")
    cert, _ = write_custom_cert(tmp_path / "dev.crt.pem", "dev-1")
    code, out, _ = run(capsys, "dps", "enroll", "dev-1", "--cert", str(cert), "--data", data)
    assert code == 0 and out.startswith("enrollment dev-1: X.509 thumbprint ")
    old, _ = write_custom_cert(tmp_path / "old.crt.pem", "dev-2", days_before=30, days_after=-1)
    code, _, err = run(capsys, "dps", "enroll", "dev-2", "--cert", str(old), "--data", data)
    assert code == 2 and err.count("\n") == 1 and "the hub would refuse it" in err
