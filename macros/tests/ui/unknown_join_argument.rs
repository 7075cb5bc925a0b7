#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "ads";
        stream shows: String => String from "shows" (Utf8, Utf8);
        shows -> join(clickz, "shown-clicked", tributary::topology::JoinWindows::of(std::time::Duration::from_secs(5)),
                      |_, s, c: &String| format!("{s}{c}"))
              -> to("out", Utf8, Utf8);
    };
}
