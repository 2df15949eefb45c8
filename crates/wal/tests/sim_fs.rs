//! The simulated disk keeps its crash model and its faults: what is synced
//! survives, what is not survives at most as a prefix (the last write
//! maybe torn), names need a directory sync, and every injected fault
//! fails the way the module docs say.

use std::io::{ErrorKind, Write};
use std::path::Path;

use synod_wal::{CrashPlan, Fs, FsOp, OpenMode, SimFs, SplitMix64, WriteFile};

fn create(fs: &SimFs, path: &str) -> Box<dyn WriteFile> {
    fs.open_write(Path::new(path), OpenMode::CreateNew)
        .expect("create")
}

fn read(fs: &SimFs, path: &str) -> Vec<u8> {
    fs.read(Path::new(path)).expect("read")
}

/// `/d/f` created with its name durable, holding `durable` (synced).
fn durable_file(fs: &SimFs, durable: &[u8]) -> Box<dyn WriteFile> {
    fs.create_dir(Path::new("/d")).expect("mkdir");
    fs.sync_dir(Path::new("/")).expect("sync /");
    let mut file = create(fs, "/d/f");
    fs.sync_dir(Path::new("/d")).expect("sync /d");
    file.write_all(durable).expect("write");
    file.sync_data().expect("sync");
    file
}

#[test]
fn a_crash_keeps_the_synced_bytes_and_at_most_a_prefix_of_the_unsynced_writes() {
    let (mut kept_some, mut torn, mut lost_all) = (0, 0, 0);
    for seed in 0..300 {
        let fs = SimFs::new();
        let mut file = durable_file(&fs, b"synced;");
        let writes: Vec<Vec<u8>> = (0..4).map(|i| vec![b'a' + i; 5]).collect();
        for w in &writes {
            file.write_all(w).expect("write");
        }
        drop(file);
        let report = fs.crash(CrashPlan::Random { seed });
        let after = read(&fs, "/d/f");
        assert!(after.starts_with(b"synced;"), "seed {seed}: {after:?}");
        let tail = &after[7..];
        let whole: Vec<u8> = writes.concat();
        // Whole writes as written, then at most one torn write: fewer bytes
        // than written, a prefix of them as written.
        let kept = report.writes_kept as usize;
        assert_eq!(&tail[..kept * 5], &whole[..kept * 5], "seed {seed}");
        let rest = &tail[kept * 5..];
        assert!(rest.len() < 5, "seed {seed}: {rest:?}");
        assert_eq!(report.torn_writes, u64::from(!rest.is_empty()));
        kept_some += usize::from(kept > 0);
        torn += usize::from(!rest.is_empty());
        lost_all += usize::from(tail.is_empty());
    }
    assert!(
        kept_some > 50 && torn > 30 && lost_all > 30,
        "{kept_some} kept some, {torn} torn, {lost_all} lost all"
    );
}

#[test]
fn a_new_name_survives_a_crash_only_after_its_directory_was_synced() {
    let mut lost = 0;
    for seed in 0..50 {
        let fs = SimFs::new();
        let mut file = create(&fs, "/f");
        file.write_all(b"data").expect("write");
        file.sync_all()
            .expect("a file's sync does not cover its name");
        drop(file);
        fs.crash(CrashPlan::Random { seed });
        lost += usize::from(fs.len(Path::new("/f")).is_err());
    }
    assert!(lost > 10, "the unsynced name was lost {lost} times in 50");
    let fs = SimFs::new();
    drop(create(&fs, "/f"));
    fs.sync_dir(Path::new("/")).expect("sync /");
    fs.crash(CrashPlan::LoseUnsynced);
    assert_eq!(read(&fs, "/f"), b"");
}

#[test]
fn an_unsynced_rename_survives_whole_or_not_at_all() {
    let (mut old, mut new) = (0, 0);
    for seed in 0..100 {
        let fs = SimFs::new();
        for (name, bytes) in [("/target", &b"old"[..]), ("/temp", b"new")] {
            let mut file = create(&fs, name);
            file.write_all(bytes).expect("write");
            file.sync_all().expect("sync");
        }
        fs.sync_dir(Path::new("/")).expect("sync /");
        fs.rename(Path::new("/temp"), Path::new("/target"))
            .expect("rename");
        assert_eq!(read(&fs, "/target"), b"new", "the process sees the rename");
        fs.crash(CrashPlan::Random { seed });
        match read(&fs, "/target").as_slice() {
            b"old" => {
                old += 1;
                assert_eq!(read(&fs, "/temp"), b"new");
            }
            b"new" => {
                new += 1;
                assert!(fs.len(Path::new("/temp")).is_err());
            }
            other => panic!("seed {seed}: target holds {other:?}"),
        }
    }
    assert!(old > 20 && new > 20, "{old} old, {new} new");
}

#[test]
fn an_unsynced_removal_may_be_undone_by_a_crash() {
    let mut back = 0;
    for seed in 0..50 {
        let fs = SimFs::new();
        drop(durable_file(&fs, b"x"));
        fs.remove_file(Path::new("/d/f")).expect("remove");
        assert!(fs.len(Path::new("/d/f")).is_err());
        fs.crash(CrashPlan::Random { seed });
        back += usize::from(fs.len(Path::new("/d/f")).is_ok());
    }
    assert!(back > 10 && back < 40, "back {back} times in 50");
}

#[test]
fn a_failed_sync_drops_the_unsynced_writes_which_reads_still_see() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"durable;");
    file.write_all(b"pending").expect("write");
    fs.fail_next(FsOp::SyncFile);
    let err = file.sync_data().expect_err("injected");
    assert_eq!(err.raw_os_error(), Some(5), "{err}");
    assert!(err.to_string().contains("Input/output error"), "{err}");
    assert_eq!(read(&fs, "/d/f"), b"durable;pending");
    file.sync_data().expect("a later sync succeeds");
    drop(file);
    fs.crash(CrashPlan::KeepUnsynced);
    assert_eq!(read(&fs, "/d/f"), b"durable;", "the dropped pages are gone");
}

#[test]
fn a_write_past_the_capacity_fails_whole_with_enospc() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"0123456789");
    fs.set_capacity_bytes(Some(15));
    let err = file.write_all(b"abcdefgh").expect_err("no space");
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert_eq!(read(&fs, "/d/f"), b"0123456789", "nothing landed");
    file.write_all(b"abcde").expect("exactly the capacity");
    fs.set_capacity_bytes(None);
    file.write_all(b"more").expect("space came back");
    assert_eq!(fs.stats().enospc_errors, 1);
    assert_eq!(fs.used_bytes(), 19);
}

#[test]
fn a_partly_landed_write_fails_and_what_landed_is_unsynced() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"ok;");
    fs.fail_next_write_partly(4);
    assert!(file.write_all(b"abcdefgh").is_err());
    assert_eq!(read(&fs, "/d/f"), b"ok;abcd");
    drop(file);
    fs.crash(CrashPlan::LoseUnsynced);
    assert_eq!(read(&fs, "/d/f"), b"ok;");
}

#[test]
fn fail_after_lets_that_many_calls_through_first() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"");
    fs.fail_after(FsOp::Write, 2);
    file.write_all(b"1").expect("first");
    file.write_all(b"2").expect("second");
    assert!(file.write_all(b"3").is_err());
    file.write_all(b"4").expect("only one failure");
    assert_eq!(read(&fs, "/d/f"), b"124");
    assert_eq!(fs.stats().injected_errors, 1);
}

#[test]
fn a_halted_disk_refuses_everything_without_effect_until_resumed() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"a");
    fs.halt_after(1);
    file.write_all(b"b").expect("one more operation");
    assert!(file.write_all(b"c").is_err());
    assert!(file.sync_data().is_err());
    assert!(fs.read(Path::new("/d/f")).is_err());
    fs.resume();
    assert_eq!(read(&fs, "/d/f"), b"ab");
    file.sync_data().expect("the halted sync dropped nothing");
    drop(file);
    fs.crash(CrashPlan::LoseUnsynced);
    assert_eq!(read(&fs, "/d/f"), b"ab");
}

#[test]
fn handles_opened_before_a_crash_are_stale() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"a");
    fs.crash(CrashPlan::KeepUnsynced);
    assert!(file.write_all(b"b").is_err());
    assert!(file.sync_data().is_err());
    assert_eq!(read(&fs, "/d/f"), b"a");
}

#[test]
fn lying_syncs_lose_acknowledged_writes_at_a_crash() {
    let fs = SimFs::new();
    let mut file = durable_file(&fs, b"kept;");
    fs.set_fsync_lies(true);
    file.write_all(b"acknowledged").expect("write");
    file.sync_data().expect("the lie");
    drop(file);
    fs.crash(CrashPlan::LoseUnsynced);
    assert_eq!(read(&fs, "/d/f"), b"kept;");
}

#[test]
fn a_crash_replays_from_its_seed() {
    let run = |seed| {
        let fs = SimFs::new();
        let mut rng = SplitMix64(7);
        let mut file = durable_file(&fs, b"");
        for _ in 0..20 {
            let len = rng.below(50) as usize;
            file.write_all(&rng.bytes(len)).expect("write");
        }
        drop(file);
        let report = fs.crash(CrashPlan::Random { seed });
        (read(&fs, "/d/f"), report, fs.stats())
    };
    for seed in 0..20 {
        assert_eq!(run(seed), run(seed), "seed {seed}");
    }
    assert_ne!(run(1).0, run(2).0);
}

#[test]
fn paths_outside_the_model_are_refused_not_panicked() {
    let fs = SimFs::new();
    fs.create_dir(Path::new("/a")).expect("mkdir");
    fs.create_dir(Path::new("/b")).expect("mkdir");
    drop(create(&fs, "/a/f"));
    assert!(fs.create_dir(Path::new("/x/y")).is_err(), "missing parent");
    assert!(
        fs.create_dir(Path::new("/a/f/g")).is_err(),
        "file as parent"
    );
    assert!(fs
        .open_write(Path::new("/a/../f"), OpenMode::CreateNew)
        .is_err());
    let err = fs
        .rename(Path::new("/a/f"), Path::new("/b/f"))
        .expect_err("across directories");
    assert_eq!(err.raw_os_error(), Some(18), "{err}");
    assert!(fs.remove_file(Path::new("/a")).is_err(), "a directory");
    assert!(fs.read(Path::new("/a")).is_err(), "a directory");
    let mut file = fs
        .open_write(Path::new("/a/f"), OpenMode::Existing)
        .expect("open");
    assert!(file.set_len(synod_wal::sim_fs::FILE_BYTES_MAX + 1).is_err());
    assert!(
        fs.is_dir(Path::new("a")),
        "relative paths start at the root"
    );
}
