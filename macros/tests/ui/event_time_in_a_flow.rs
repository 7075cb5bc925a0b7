#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "clicks";
        stream clicks: String => i64 from "clicks" (Utf8, Json);
        clicks -> event_time(|_, at| *at) -> to("out", Utf8, Json);
    };
}
