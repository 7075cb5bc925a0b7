#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "clicks";
        stream clicks: String => String from "clicks" (Utf8, Utf8);
        clicks -> count("clicks-per-user") -> to("counts", Utf8, Json);
    };
}
