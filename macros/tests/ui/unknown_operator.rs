#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "clicks";
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        clicks -> filter_map(|_, v| Some(v)) -> to("out", Utf8, Utf8);
    };
}
