//! TLS to Postgres: a throwaway cluster that accepts only TLS connections (a certificate
//! signed by a test CA), reached with `sslmode=require` and `sslmode=verify-full`, for the
//! migrations and the pool alike.

use std::path::{Path, PathBuf};
use std::process::Command;

use uuid::Uuid;

use crate::cli::free_port;

/// The newest PostgreSQL server binaries on this machine.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            let bin = path.join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `bin/name args` as the `postgres` user (initdb and pg_ctl refuse root).
fn as_postgres(dir: &Path, bin: &Path, name: &str, args: &[&str]) {
    let mut command = Command::new("runuser");
    command
        .args(["-u", "postgres", "--"])
        .arg(bin.join(name))
        .args(args)
        .current_dir(dir);
    run(&mut command);
}

/// A cluster in a temporary directory, stopped and removed when dropped.
struct TlsCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl TlsCluster {
    fn start(bin: PathBuf) -> TlsCluster {
        let dir = std::env::temp_dir().join(format!("freeway-pgtls-{}", Uuid::new_v4().simple()));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        write_certificates(&dir);
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir));
        let cluster = TlsCluster {
            dir: dir.clone(),
            bin,
            port: free_port(),
        };
        let data_arg = data.to_str().unwrap();
        as_postgres(
            &dir,
            &cluster.bin,
            "initdb",
            &["-D", data_arg, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
            cluster.port,
            dir.display(),
            path("server.crt"),
            path("server.key"),
        );
        append(&data.join("postgresql.conf"), &conf);
        // Only TLS connections over TCP: a plain one is refused.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let log = path("server.log");
        as_postgres(
            &dir,
            &cluster.bin,
            "pg_ctl",
            &["-D", data_arg, "-l", &log, "-w", "start"],
        );
        cluster
    }

    fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{query}",
            self.port
        )
    }

    fn ca(&self) -> String {
        self.dir.join("ca.crt").to_str().unwrap().to_string()
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "stop",
            ])
            .current_dir(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(file).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A test CA and a server certificate it signed for 127.0.0.1 and localhost.
fn write_certificates(dir: &Path) {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt"],
            &["-days", "2", "-subj", "/CN=Freeway test CA"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
            &["-subj", "/CN=localhost"],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

async fn encrypted(url: &str) -> bool {
    let pool = freeway::store::connect(url, 1).await.unwrap();
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    ssl
}

#[tokio::test]
#[allow(clippy::print_stderr)]
async fn migrations_and_the_pool_connect_over_tls() {
    let Some(bin) = postgres_bin() else {
        eprintln!("skipped: no initdb under /usr/lib/postgresql/*/bin (install postgresql)");
        return;
    };
    let cluster = tokio::task::spawn_blocking(move || TlsCluster::start(bin))
        .await
        .unwrap();

    // The cluster takes TLS only: without it, nothing connects.
    assert!(
        freeway::store::migrate::run(&cluster.url("sslmode=disable"))
            .await
            .is_err()
    );

    let require = cluster.url("sslmode=require");
    let applied = freeway::store::migrate::run(&require).await.unwrap();
    assert!(!applied.is_empty());
    assert!(encrypted(&require).await, "sslmode=require");

    // verify-full checks the certificate against the given root, and the host name.
    let verified = cluster.url(&format!("sslmode=verify-full&sslrootcert={}", cluster.ca()));
    assert!(
        freeway::store::migrate::run(&verified)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(encrypted(&verified).await, "sslmode=verify-full");
    // Against the system's roots, the test CA is unknown.
    let error = freeway::store::connect(&cluster.url("sslmode=verify-full"), 1)
        .await
        .expect_err("a certificate from an unknown CA is refused");
    assert!(error.to_string().contains("DATABASE_URL"), "{error}");
    drop(cluster);
}
