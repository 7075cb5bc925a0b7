#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "shop";
        table prices: String => u32 from "prices" (Utf8, Json);
        prices -> to_stream() -> to("out", Utf8, Json);
    };
}
