"""`doctor` against the virtual board and the emulator: a healthy device, then one fault each."""

from host_tools.doctor import has_failure, run_doctor


def by_check(results):
    return {result.check: result for result in results}


def test_doctor_healthy_device_all_pass_and_connects(deployed):
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    assert [r.line() for r in results if r.status != "pass"] == []
    assert by_check(results)["connection"].detail.startswith("the board connected to localhost:")
    assert not has_failure(results)


def failed(results):
    return {r.check: r for r in results if r.status == "fail"}


def show(results):
    print("\n".join(r.line() for r in results))


def test_doctor_device_not_registered_fails_registration(deployed):
    deployed.hub.remove_device("dev-1")
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    show(results)
    fails = failed(results)
    assert set(fails) == {"registration", "connection"}
    assert "device 'dev-1' is not registered" in fails["registration"].detail
    assert "hub register dev-1 --thumbprint " in fails["registration"].fix


def test_doctor_key_not_matching_certificate_fails_key_pair(deployed, tmp_path):
    from host_tools.certs import create_device_cert

    other = create_device_cert("dev-1", tmp_path / "other", self_signed=True)
    deployed.board_file("key_file").write_bytes(other.key_der.read_bytes())
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    show(results)
    fails = failed(results)
    assert set(fails) == {"key pair", "connection"}
    assert "key_file is not the key of cert_file" in fails["key pair"].detail


def test_doctor_expired_certificate_fails_certificate(deployed):
    expired = expired_certificate(deployed.folder / "certs" / "device.key.der", "dev-1")
    deployed.board_file("cert_file").write_bytes(expired)
    from host_tools.certs import thumbprints

    deployed.hub.register_x509("dev-1", thumbprints(expired)[0])
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    show(results)
    fails = failed(results)
    assert set(fails) == {"certificate", "registration", "connection"}
    assert "expired on" in fails["certificate"].detail
    assert "issue a new certificate" in fails["certificate"].fix
    assert "expired" in fails["registration"].detail


def test_doctor_trust_bundle_without_hub_ca_fails_trust_bundle(deployed):
    from host_tools.certs.trust import azure_roots_pem

    deployed.board_file("trust_file").write_bytes(azure_roots_pem())
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    show(results)
    fails = failed(results)
    assert set(fails) == {"trust bundle", "connection"}
    assert "lacks IoT Hub emulator root CA" in fails["trust bundle"].detail
    assert "trust" in fails["connection"].detail


def test_doctor_wrong_hub_host_fails_hub_address(deployed):
    deployed.set_config(hub_host="127.0.0.1")
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    show(results)
    fails = failed(results)
    assert set(fails) == {"hub address", "connection"}
    assert "hub_host is '127.0.0.1', the emulator is 'localhost'" in fails["hub address"].detail


def test_doctor_config_missing_fails_config_and_stops(deployed):
    (deployed.flash / "config.json").unlink()
    results = run_doctor(deployed.board.port, hub_data=deployed.hub.data_dir)
    show(results)
    assert [r.check for r in results] == ["micropython", "heap", "clock", "config.json"]
    assert failed(results)["config.json"].detail == "not on the board"
    assert "deploy" in failed(results)["config.json"].fix


def expired_certificate(key_path, device_id) -> bytes:
    """A self-signed certificate for the device's own key that ended yesterday (DER)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = serialization.load_der_private_key(key_path.read_bytes(), None)
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now - datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)
