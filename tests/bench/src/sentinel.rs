//! The disk sentinel: `pg_test_fsync -s 1`, taken at the start and the end of the run.
//! A virtual disk can change speed several-fold within minutes; if either value moved more
//! than 2×, the run is flagged `unstable`.

use std::path::Path;

use serde_json::{Value, json};

use crate::report::log;

const PG_TEST_FSYNC: &str = "/usr/lib/postgresql/15/bin/pg_test_fsync";

/// Operations per second of one `pg_test_fsync` run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Reading {
    /// "fdatasync" with one 8 kB write.
    pub(crate) fdatasync: Option<f64>,
    /// "write, fsync, close".
    pub(crate) write_fsync_close: Option<f64>,
}

/// Runs `pg_test_fsync -s 1` on a file in the temp directory; all nulls when it is missing or fails.
pub(crate) async fn measure(when: &str) -> Reading {
    if !Path::new(PG_TEST_FSYNC).is_file() {
        log!("disk sentinel ({when}): {PG_TEST_FSYNC} not found; reporting nulls");
        return Reading::default();
    }
    let dir = match tempfile::Builder::new()
        .prefix("redress-bench-fsync-")
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => {
            log!("disk sentinel ({when}): no temp dir: {e}");
            return Reading::default();
        }
    };
    log!("disk sentinel ({when}): pg_test_fsync -s 1 (about 15 s)");
    let output = tokio::process::Command::new(PG_TEST_FSYNC)
        .arg("-s")
        .arg("1")
        .arg("-f")
        .arg(dir.path().join("pg_test_fsync.out"))
        .output()
        .await;
    let text = match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            log!(
                "disk sentinel ({when}): pg_test_fsync exited with {}",
                o.status
            );
            return Reading::default();
        }
        Err(e) => {
            log!("disk sentinel ({when}): cannot run pg_test_fsync: {e}");
            return Reading::default();
        }
    };
    let reading = Reading {
        fdatasync: ops_per_sec(&text, "fdatasync"),
        write_fsync_close: ops_per_sec(&text, "write, fsync, close"),
    };
    log!(
        "disk sentinel ({when}): fdatasync {:?} ops/s, write-fsync-close {:?} ops/s",
        reading.fdatasync,
        reading.write_fsync_close
    );
    reading
}

/// The ops/sec of the first line whose label is exactly `label`.
fn ops_per_sec(text: &str, label: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix(label)?;
        // The label must end here ("fdatasync", not "fdatasync_writethrough").
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let mut words = rest.split_whitespace();
        let number = words.next()?.parse::<f64>().ok()?;
        (words.next()? == "ops/sec").then_some(number)
    })
}

/// Fields of the sentinel line.
pub(crate) fn fields(start: Reading, end: Reading) -> Vec<(&'static str, Value)> {
    let moved = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some(a.max(b) / a.min(b) > 2.0),
        _ => None,
    };
    let unstable = match (
        moved(start.fdatasync, end.fdatasync),
        moved(start.write_fsync_close, end.write_fsync_close),
    ) {
        (Some(a), Some(b)) => Some(a || b),
        (Some(true), None) | (None, Some(true)) => Some(true),
        _ => None,
    };
    vec![
        ("fdatasync_ops_per_s_start", json!(start.fdatasync)),
        ("fdatasync_ops_per_s_end", json!(end.fdatasync)),
        ("write_fsync_close_start", json!(start.write_fsync_close)),
        ("write_fsync_close_end", json!(end.write_fsync_close)),
        ("unstable", json!(unstable)),
    ]
}

#[cfg(test)]
mod tests {
    use super::ops_per_sec;

    const SAMPLE: &str = "
Compare file sync methods using one 8kB write:
        open_datasync                      7678.555 ops/sec     130 usecs/op
        fdatasync                          7784.447 ops/sec     128 usecs/op
        fsync_writethrough                              n/a
Compare file sync methods using two 8kB writes:
        fdatasync                          5022.598 ops/sec     199 usecs/op
        write, fsync, close                5897.239 ops/sec     170 usecs/op
        write, close, fsync                7067.343 ops/sec     141 usecs/op
";

    #[test]
    fn parses_the_first_fdatasync_and_write_fsync_close() {
        assert_eq!(ops_per_sec(SAMPLE, "fdatasync"), Some(7784.447));
        assert_eq!(ops_per_sec(SAMPLE, "write, fsync, close"), Some(5897.239));
        assert_eq!(ops_per_sec(SAMPLE, "fsync_writethrough"), None);
    }
}
