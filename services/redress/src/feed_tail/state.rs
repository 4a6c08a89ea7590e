//! The reader's state file: the last feed position it handled, saved before each
//! acknowledgement with one `fdatasync`.
//!
//! The file holds two slots of [`SLOT`] bytes, each one sector-aligned line of JSON padded with
//! spaces: `{"last_feed_position":N}`. A save overwrites the slot that does not hold the latest
//! position and syncs the file's data; the file's size and name never change, so no metadata
//! has to reach the disk. A crash in the middle of a save can spoil only the slot being
//! written, and that save had not returned, so the message it was for was never acknowledged:
//! the other slot still holds the position the server agrees with. Loading takes the highest
//! position of the slots that read back whole.
//!
//! A file holding one line, `{"last_feed_position": N}` (as written by hand, or by an earlier
//! reader), is read the same way. A run's first save lays out both slots afresh in a temporary
//! file, synced and renamed over the old one, whatever it held; later saves are in place.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The bytes of one slot: one disk sector, so that a save is a single sector write.
const SLOT: usize = 512;

/// What a slot says.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    last_feed_position: u64,
}

/// The last handled position; 0 when the file does not exist yet.
///
/// # Errors
/// When the file exists but cannot be read, or no line of it is a saved position.
pub fn load(path: &Path) -> anyhow::Result<u64> {
    Ok(read(path)?.map_or(0, |slots| slots.latest().1))
}

/// The state file, open for saving.
pub(super) struct StateFile {
    path: PathBuf,
    /// `None` until the first save has laid out the slots.
    slots: Option<(File, Slots)>,
}

/// What the two slots hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slots([Option<u64>; 2]);

impl Slots {
    /// The slot with the highest position, and that position (slot 0 and 0 when neither reads).
    fn latest(self) -> (usize, u64) {
        match self.0 {
            [Some(a), Some(b)] if b > a => (1, b),
            [Some(a), _] => (0, a),
            [None, Some(b)] => (1, b),
            [None, None] => (0, 0),
        }
    }
}

impl StateFile {
    pub(super) fn new(path: &Path) -> StateFile {
        StateFile {
            path: path.to_owned(),
            slots: None,
        }
    }

    /// Saves `last_feed_position`; once it returns, the position survives a crash.
    ///
    /// # Errors
    /// When the file cannot be written or synced. The position may then be on disk or not,
    /// and the message it was for must not be acknowledged.
    pub(super) fn save(&mut self, last_feed_position: u64) -> anyhow::Result<()> {
        let path = &self.path;
        let result = match &mut self.slots {
            Some((file, slots)) => {
                let (latest, _) = slots.latest();
                let next = 1 - latest;
                let written = file
                    .write_all_at(&slot(last_feed_position)?, (next * SLOT) as u64)
                    .and_then(|()| file.sync_data());
                // Whatever the outcome, that slot no longer holds what it held.
                slots.0[next] = written.is_ok().then_some(last_feed_position);
                written
            }
            None => lay_out(path, last_feed_position).map(|file| {
                self.slots = Some((file, Slots([Some(last_feed_position); 2])));
            }),
        };
        result.with_context(|| format!("Failed to save the feed position in {}", path.display()))
    }
}

/// One slot's bytes: the JSON line padded with spaces to [`SLOT`].
fn slot(last_feed_position: u64) -> anyhow::Result<[u8; SLOT]> {
    let json = serde_json::to_vec(&Saved { last_feed_position })?;
    let mut bytes = [b' '; SLOT];
    bytes[..json.len()].copy_from_slice(&json);
    bytes[SLOT - 1] = b'\n';
    Ok(bytes)
}

/// Writes a fresh file holding `last_feed_position` in both slots, replacing whatever was at
/// `path` so that a crash leaves either the old file or the new one; returns it open.
fn lay_out(path: &Path, last_feed_position: u64) -> std::io::Result<File> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary)?;
    let bytes = slot(last_feed_position).map_err(std::io::Error::other)?;
    file.write_all(&bytes)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

/// The slots of the file at `path`; `None` when there is no file.
fn read(path: &Path) -> anyhow::Result<Option<Slots>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("Failed to read {}", path.display())),
    };
    let parse = |line: &[u8]| {
        serde_json::from_slice::<Saved>(line.trim_ascii())
            .ok()
            .map(|s| s.last_feed_position)
    };
    let slots = if bytes.len() == 2 * SLOT {
        let (a, b) = bytes.split_at(SLOT);
        Slots([parse(a), parse(b)])
    } else {
        Slots([parse(&bytes), None])
    };
    match slots.0 {
        [None, None] => anyhow::bail!("{} is not a feed tail state file", path.display()),
        [Some(_), None] | [None, Some(_)] if bytes.len() == 2 * SLOT => {
            tracing::warn!(path = %path.display(), "one slot of the state file does not read back (a save was interrupted); using the other");
        }
        _ => {}
    }
    Ok(Some(slots))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A state file at a fresh path, after saving `positions` in turn.
    fn saved(positions: &[u64]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let mut state = StateFile::new(&path);
        for &position in positions {
            state.save(position).unwrap();
        }
        (dir, path)
    }

    #[test]
    fn a_missing_state_file_is_position_zero_and_saved_positions_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        let mut state = StateFile::new(&path);

        assert_eq!(load(&path).unwrap(), 0);
        for position in [1, 2, 5, 7, 8] {
            state.save(position).unwrap();
            assert_eq!(load(&path).unwrap(), position);
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * SLOT as u64);
    }

    #[test]
    fn saves_alternate_slots_even_when_positions_skip() {
        let (_dir, path) = saved(&[3, 5, 7]);

        // The slot not written last still holds the position before: a torn write of the
        // next save could spoil only the other one.
        assert_eq!(read(&path).unwrap(), Some(Slots([Some(7), Some(5)])));
    }

    #[test]
    fn a_spoilt_slot_falls_back_to_the_other() {
        let (_dir, path) = saved(&[41, 42]);

        // A save of 43 into slot 0 torn half way through.
        let file = File::options().write(true).open(&path).unwrap();
        file.write_all_at(&[0; SLOT / 2], 0).unwrap();

        assert_eq!(load(&path).unwrap(), 42);
    }

    #[test]
    fn a_one_line_file_is_read_and_the_first_save_lays_out_the_slots() {
        let (_dir, path) = saved(&[]);
        std::fs::write(&path, "{\"last_feed_position\": 42}\n").unwrap();
        assert_eq!(load(&path).unwrap(), 42);

        let mut state = StateFile::new(&path);
        state.save(43).unwrap();
        state.save(44).unwrap();

        assert_eq!(read(&path).unwrap(), Some(Slots([Some(43), Some(44)])));
    }

    #[test]
    fn a_file_that_holds_no_position_is_an_error() {
        let (_dir, path) = saved(&[]);
        std::fs::write(&path, "position 42\n").unwrap();

        let error = load(&path).unwrap_err();

        assert!(error.to_string().contains("is not a feed tail state file"));
    }
}
