#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

use std::time::Duration;
use tributary::topology::JoinWindows;
fn main() {
    let _ = pipeline! {
        app "ads";
        stream shows: String => String from "shows" (Utf8, Utf8);
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        clicks -> map(|_, page| (page.clone(), page)) => by_page;
        shows -> join(by_page, "shown-clicked", JoinWindows::of(Duration::from_secs(5)),
                      |_, s, c| format!("{s}{c}"))
              -> to("out", Utf8, Utf8);
    };
}
