//! The processor API: stores, metadata, event-time and wall-clock timers.

use std::time::Duration;
use tributary::codec::Utf8;
use tributary::testing::TestDriver;
use tributary::topology::{KeyValueStore, Process, ProcessContext, ProcessInit, TimeKind, Timer};
use tributary::{Result, Topology};

/// Counts records per key; every 1 s of wall clock, emits the counts seen
/// since the last flush and clears them.
#[derive(Default)]
struct PeriodicCounts {
    counts: Option<KeyValueStore<String, u64>>,
    keys: Vec<String>,
}

impl Process<String, String> for PeriodicCounts {
    type Key = String;
    type Value = String;

    fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> Result<()> {
        self.counts = Some(ctx.kv_store("counts")?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessContext<'_, String, String>, key: String, _v: String) {
        let counts = self.counts.as_ref().unwrap();
        let n = counts.get(&key).unwrap().unwrap_or(0);
        if n == 0 {
            self.keys.push(key.clone());
        }
        counts.put(&key, n + 1).unwrap();
        ctx.schedule(TimeKind::WallClock, (ctx.wall_clock() / 1000 + 1) * 1000, 7);
    }

    fn on_timer(&mut self, ctx: &mut ProcessContext<'_, String, String>, timer: Timer) {
        assert_eq!((timer.kind, timer.tag), (TimeKind::WallClock, 7));
        let counts = self.counts.as_ref().unwrap();
        for key in std::mem::take(&mut self.keys) {
            let n = counts.get(&key).unwrap().unwrap_or(0);
            counts.delete(&key).unwrap();
            ctx.forward(key, format!("{n} at {}", timer.at));
        }
    }
}

#[test]
fn wall_clock_timers_fire_when_the_clock_moves() {
    let mut b = Topology::builder("periodic");
    b.stream::<String, String>("in", Utf8, Utf8)
        .process("periodic-counts", &["counts"], PeriodicCounts::default)
        .to("out", Utf8, Utf8);
    let driver = TestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input("in", Utf8, Utf8);
    let out = driver.output::<String, String, _, _>("out", Utf8, Utf8);
    for k in ["a", "b", "a"] {
        input.pipe(k.to_string(), "x".to_string()).unwrap();
    }
    assert!(
        out.read_values().unwrap().is_empty(),
        "the timer waits for the wall clock"
    );
    driver
        .advance_wall_clock(Duration::from_millis(999))
        .unwrap();
    assert!(out.read_values().unwrap().is_empty());
    driver.advance_wall_clock(Duration::from_millis(1)).unwrap();
    assert_eq!(
        out.read_key_values().unwrap(),
        vec![
            ("a".to_string(), "2 at 1000".to_string()),
            ("b".to_string(), "1 at 1000".to_string())
        ]
    );
    assert!(
        driver
            .store::<String, u64>("counts")
            .unwrap()
            .iter()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn opening_an_undeclared_store_fails_with_its_name() {
    struct Sneaky;
    impl Process<String, String> for Sneaky {
        type Key = String;
        type Value = String;
        fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> Result<()> {
            ctx.kv_store::<String, u64>("other").map(|_| ())
        }
        fn process(&mut self, _: &mut ProcessContext<'_, String, String>, _: String, _: String) {}
    }
    let mut b = Topology::builder("sneaky");
    b.stream::<String, String>("in", Utf8, Utf8)
        .process("sneaky", &["mine"], || Sneaky)
        .to("out", Utf8, Utf8);
    let err = TestDriver::new(b.build().unwrap()).unwrap_err().to_string();
    assert!(err.contains("store 'other' is not declared"), "{err}");
}

/// Collects each key's values in its store entry, in place, until one is
/// `"end"`; then emits them and deletes the entry.
#[derive(Default)]
struct Collect {
    lists: Option<KeyValueStore<String, Vec<String>>>,
}

impl Process<String, String> for Collect {
    type Key = String;
    type Value = String;

    fn init(&mut self, ctx: &mut ProcessInit<'_, '_>) -> Result<()> {
        self.lists = Some(ctx.kv_store("lists")?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessContext<'_, String, String>, key: String, v: String) {
        let lists = self.lists.as_ref().unwrap();
        let len = lists.read(&key, |l| l.map_or(0, Vec::len)).unwrap();
        let done = lists
            .update(&key, |l| {
                if v == "end" {
                    l.take()
                } else {
                    l.get_or_insert_default().push(v);
                    None
                }
            })
            .unwrap();
        if let Some(values) = done {
            assert_eq!(values.len(), len);
            ctx.forward(key, values.join(","));
        }
    }
}

#[test]
fn update_changes_store_entries_in_place_and_read_sees_them() {
    let mut b = Topology::builder("collect");
    b.stream::<String, String>("in", Utf8, Utf8)
        .process("collect", &["lists"], Collect::default)
        .to("out", Utf8, Utf8);
    let driver = TestDriver::new(b.build().unwrap()).unwrap();
    let input = driver.input("in", Utf8, Utf8);
    let out = driver.output::<String, String, _, _>("out", Utf8, Utf8);
    for (k, v) in [
        ("a", "x"),
        ("b", "z"),
        ("a", "y"),
        ("a", "end"),
        ("c", "end"),
    ] {
        input.pipe(k.to_string(), v.to_string()).unwrap();
    }
    assert_eq!(
        out.read_key_values().unwrap(),
        vec![("a".to_string(), "x,y".to_string())]
    );
    let lists = driver.store::<String, Vec<String>>("lists").unwrap();
    assert_eq!(
        lists.iter().unwrap(),
        vec![("b".to_string(), vec!["z".to_string()])],
        "a's entry was deleted, c's never written"
    );
}
