import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from host_tools.certs import keys
from host_tools.errors import UserError


@pytest.mark.parametrize(
    ("key_type", "kind", "bits"),
    [("ec256", ec.EllipticCurvePrivateKey, 256), ("ec384", ec.EllipticCurvePrivateKey, 384)]
    + [("rsa2048", rsa.RSAPrivateKey, 2048)],
)
def test_generate_key_each_type_has_requested_size(key_type, kind, bits):
    key = keys.generate_key(key_type)
    assert isinstance(key, kind)
    assert key.key_size == bits


def test_check_key_type_rsa1024_refused_as_weak():
    with pytest.raises(UserError, match="under 2048 bits are refused"):
        keys.check_key_type("rsa1024")


def test_check_key_type_unknown_lists_valid_types():
    with pytest.raises(UserError, match="ec256, ec384, rsa2048"):
        keys.check_key_type("dsa")


def test_parse_private_key_wrong_passphrase_names_file_not_key(tmp_path):
    key = keys.generate_key("ec256")
    pem = keys.key_to_pem(key, b"secret")
    with pytest.raises(UserError) as info:
        keys.parse_private_key(pem, tmp_path / "ca.key.pem", b"wrong")
    message = str(info.value)
    assert "ca.key.pem" in message and "wrong passphrase" in message
    assert "PRIVATE KEY" not in message


def test_parse_private_key_encrypted_without_passphrase_asks_for_it(tmp_path):
    pem = keys.key_to_pem(keys.generate_key("ec256"), b"secret")
    with pytest.raises(UserError, match="--passphrase-file"):
        keys.parse_private_key(pem, tmp_path / "k.pem")


def test_parse_private_key_garbage_raises_user_error_without_content(tmp_path):
    with pytest.raises(UserError) as info:
        keys.parse_private_key(b"\x30\x03secretbytes", tmp_path / "k.der")
    assert "secretbytes" not in str(info.value)


def test_key_to_der_round_trips_as_pkcs8():
    key = keys.generate_key("ec256")
    der = keys.key_to_der(key)
    loaded = keys.parse_private_key(der, "k.der")
    assert keys.public_keys_equal(loaded.public_key(), key.public_key())
