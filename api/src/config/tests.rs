use super::*;

#[test]
fn trusted_proxies_are_addresses_or_networks_and_anything_else_is_refused() {
    let with = |list: &str| Config {
        trusted_proxies: list.into(),
        ..Config::default()
    };
    let nets = with(" 10.0.0.0/8, 127.0.0.1 ,::1")
        .trusted_proxies()
        .unwrap();
    assert_eq!(nets.len(), 3);
    assert!(nets[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
    assert!(with("").trusted_proxies().unwrap().is_empty());
    let error = with("10.0.0.0/33").validate().unwrap_err().to_string();
    assert!(error.contains("FREEWAY_TRUSTED_PROXIES") && error.contains("10.0.0.0/33"));
}

#[test]
fn redacts_passwords_only() {
    assert_eq!(
        redact_url("postgres://app:hunter2@db:5432/freeway?sslmode=disable"),
        "postgres://app:***@db:5432/freeway?sslmode=disable"
    );
    assert_eq!(
        redact_url("postgres://postgres@127.0.0.1/x"),
        "postgres://postgres@127.0.0.1/x"
    );
    assert_eq!(redact_url("not a url"), "not a url");
}

#[test]
fn debug_output_hides_secrets() {
    let config = Config {
        database_url: "postgres://u:topsecret@h/d".into(),
        master_key: Some("c2VjcmV0".into()),
        ..Config::default()
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains("topsecret"));
    assert!(!printed.contains("c2VjcmV0"));
}

#[test]
fn file_then_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "freeway.toml",
            "max_body_bytes = 2048\nlisten = \"0.0.0.0:9000\"\n[usage]\nbatch_size = 7\n",
        )?;
        jail.set_env("FREEWAY_USAGE__BATCH_SIZE", "9");
        jail.set_env("FREEWAY_USAGE__RETENTION_MONTHS", "24");
        jail.set_env("FREEWAY_RESPONSES_RETENTION_DAYS", "7");
        jail.set_env("FREEWAY_METRICS_LISTEN", "127.0.0.1:9464");
        jail.set_env("DATABASE_URL", "postgres://x@y/z");
        let config = Config::load(Some(std::path::Path::new("freeway.toml"))).unwrap();
        assert_eq!(config.max_body_bytes, 2048);
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.usage.batch_size, 9);
        assert_eq!(config.usage.retention_months, 24);
        // Rollups are kept forever unless told otherwise.
        assert_eq!(config.usage.rollup_retention_months, 0);
        assert_eq!(config.responses_retention_days, 7);
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(config.database_url, "postgres://x@y/z");
        Ok(())
    });
}

#[test]
fn every_top_level_key_is_read_from_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("FREEWAY_LOG_FORMAT", "json");
        jail.set_env("FREEWAY_RESPONSES_RETENTION_DAYS", "7");
        let config = Config::load(None).unwrap();
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.responses_retention_days, 7);
        jail.set_env("FREEWAY_LOG_FORMAT", "xml");
        assert!(Config::load(None).is_err());
        Ok(())
    });
}

#[test]
fn every_setting_is_read_from_the_environment() {
    let fields = serde_json::to_value(Config::default()).unwrap();
    let mut fields: Vec<&str> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut known = CONFIG_KEYS.to_vec();
    fields.sort_unstable();
    known.sort_unstable();
    assert_eq!(fields, known);
}

#[test]
fn rejects_unknown_keys_and_missing_files() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("bad.toml", "no_such_setting = 1\n")?;
        assert!(Config::load(Some(std::path::Path::new("bad.toml"))).is_err());
        assert!(Config::load(Some(std::path::Path::new("missing.toml"))).is_err());
        Ok(())
    });
}
