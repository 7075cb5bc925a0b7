#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

use std::time::Duration;
use tributary::topology::TimeWindows;
fn main() {
    let _ = pipeline! {
        app "clicks";
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        clicks -> group_by_key() -> windowed_by(TimeWindows::tumbling(Duration::from_secs(60)));
    };
}
