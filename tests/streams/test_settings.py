import pytest

from streams.errors import ConfigError
from streams.settings import load_settings


def test_defaults_are_valid(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("TURNWATCH_"):
            monkeypatch.delenv(key)
    settings = load_settings()
    assert settings.broker is None and settings.turns_topic == "turnwatch.turns"


def test_bad_env_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("TURNWATCH_PARTITIONS", "zero")
    with pytest.raises(ConfigError, match=r"TURNWATCH_PARTITIONS \(partitions\)"):
        load_settings()


def test_bad_broker_address_is_named(monkeypatch):
    monkeypatch.setenv("TURNWATCH_BROKER", "localhost")
    with pytest.raises(ConfigError, match="TURNWATCH_BROKER"):
        load_settings()


def test_yaml_file_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "tw.yaml"
    path.write_text("batch_max: 0\nweb_port: 8080\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert f"{path} (batch_max)" in str(info.value)
    path.write_text("unknown_key: 1\n")
    with pytest.raises(ConfigError, match="unknown_key"):
        load_settings(path)


def test_env_overrides_the_file(tmp_path, monkeypatch):
    path = tmp_path / "tw.yaml"
    path.write_text("web_port: 8080\nbroker: kafka://k1:9092,k2:9092\n")
    monkeypatch.setenv("TURNWATCH_WEB_PORT", "9090")
    settings = load_settings(path)
    assert settings.web_port == 9090
    assert settings.faust_broker_url == "kafka://k1:9092;kafka://k2:9092"


def test_secrets_are_not_printed(monkeypatch):
    monkeypatch.setenv("TURNWATCH_API_TOKEN", "s3cret-token")
    settings = load_settings()
    assert "s3cret-token" not in repr(settings) and "s3cret-token" not in str(settings.model_dump())


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_settings(tmp_path / "nope.yaml")


def test_bad_detector_options_fail_fast_naming_the_key(tmp_path):
    from streams.monitor.build import build_pipeline

    path = tmp_path / "tw.yaml"
    path.write_text("detector_options:\n  loop:\n    patient_runs: 3\n")
    with pytest.raises(ConfigError, match=r"DETECTOR_OPTIONS.*patient_runs"):
        build_pipeline(load_settings(path), extractors=[])


def test_a_zero_batch_window_is_refused(monkeypatch):
    # Faust reads a zero window as "wait until the batch is full": quiet conversations would stall.
    monkeypatch.setenv("TURNWATCH_BATCH_WINDOW", "0")
    with pytest.raises(ConfigError, match="TURNWATCH_BATCH_WINDOW"):
        load_settings()


def test_sasl_needs_a_mechanism_a_user_and_a_password_and_names_what_is_missing(monkeypatch):
    from streams.errors import ConfigError
    from streams.settings import load_settings

    monkeypatch.setenv("TURNWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "needs sasl_mechanism, sasl_username, sasl_password" in str(raised.value)


def test_kafka_security_reaches_kafka_python_and_faust_without_logging_the_password(tmp_path, monkeypatch):
    import faust

    from streams.kafka.security import faust_credentials, kafka_python_options
    from streams.settings import load_settings

    secret = tmp_path / "kafka-password"
    secret.write_text("s3cret-value\n")
    monkeypatch.setenv("TURNWATCH_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TURNWATCH_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TURNWATCH_SASL_USERNAME", "turnwatch")
    monkeypatch.setenv("TURNWATCH_SASL_PASSWORD_FILE", str(secret))
    settings = load_settings()
    options = kafka_python_options(settings)
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "turnwatch",
        "sasl_plain_password": "s3cret-value",
    }
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials) and credentials.username == "turnwatch"
    assert "s3cret" not in repr(settings)


def test_a_missing_tls_file_is_named(monkeypatch, tmp_path):
    from streams.errors import ConfigError
    from streams.settings import load_settings

    monkeypatch.setenv("TURNWATCH_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("TURNWATCH_SSL_CAFILE", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="ssl_cafile"):
        load_settings()


@pytest.mark.parametrize("value", ["crisis,loop", " crisis , loop ", '["crisis", "loop"]'])
def test_detectors_in_the_environment_are_names_separated_by_commas_or_a_json_list(monkeypatch, value):
    monkeypatch.setenv("TURNWATCH_DETECTORS", value)
    assert load_settings().detectors == ["crisis", "loop"]


def test_a_broken_json_list_of_detectors_names_the_variable(monkeypatch):
    monkeypatch.setenv("TURNWATCH_DETECTORS", '["crisis"')
    with pytest.raises(ConfigError, match="TURNWATCH_DETECTORS"):
        load_settings()
