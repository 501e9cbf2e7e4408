import subprocess

import pytest

from host_tools.certs import create_ca, load_certificates, thumbprints, trust, write_trust_bundle
from host_tools.errors import UserError


def test_write_trust_bundle_default_holds_both_pinned_roots(tmp_path):
    path = write_trust_bundle(tmp_path / "trust.pem")
    prints = [thumbprints(c)[1] for c in load_certificates(path)]
    assert prints == list(trust.AZURE_ROOTS.values())


@pytest.mark.parametrize("name", sorted(trust.AZURE_ROOTS))
def test_azure_roots_shipped_copy_equals_system_copy(name):
    system = trust.SYSTEM_CERTS_DIR / name
    assert system.exists(), f"{system} missing: apt-get install ca-certificates"
    assert thumbprints(system)[1] == trust.AZURE_ROOTS[name]
    assert thumbprints(trust.ROOTS_DIR / name)[1] == trust.AZURE_ROOTS[name]


def test_write_trust_bundle_extra_ca_folder_appended_once(root_ca, tmp_path):
    path = write_trust_bundle(tmp_path / "t.pem", extra_ca=[root_ca, root_ca / "ca.crt.pem"])
    certs = load_certificates(path)
    assert len(certs) == 3
    assert certs[-1].subject.rfc4514_string() == "CN=Test Root CA"


def test_write_trust_bundle_without_azure_roots_only_extra(root_ca, tmp_path):
    path = write_trust_bundle(tmp_path / "t.pem", extra_ca=[root_ca], include_azure_roots=False)
    assert len(load_certificates(path)) == 1


def test_write_trust_bundle_empty_refused(tmp_path):
    with pytest.raises(UserError, match="empty"):
        write_trust_bundle(tmp_path / "t.pem", include_azure_roots=False)


def test_azure_roots_pem_swapped_file_refused(tmp_path):
    decoy = create_ca(tmp_path / "decoy")
    roots = tmp_path / "roots"
    roots.mkdir()
    for name in trust.AZURE_ROOTS:
        (roots / name).write_bytes(decoy.cert_pem.read_bytes())
    with pytest.raises(UserError, match="not the pinned"):
        trust.azure_roots_pem(search_dirs=(roots,))


def test_azure_roots_pem_missing_everywhere_names_package(tmp_path):
    with pytest.raises(UserError, match="apt-get install ca-certificates"):
        trust.azure_roots_pem(search_dirs=(tmp_path,))


def test_write_trust_bundle_loads_in_micropython_tls(micropython_bin, root_ca, tmp_path):
    path = write_trust_bundle(tmp_path / "trust.pem", extra_ca=[root_ca])
    script = (
        "import tls\n"
        "ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)\n"
        f"ctx.load_verify_locations(open({str(path)!r}, 'rb').read())\n"
        "print('loaded')\n"
    )
    out = subprocess.run(
        [str(micropython_bin), "-c", script], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == "loaded", out.stderr
