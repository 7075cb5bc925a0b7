#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        stream orders: String => u32 from "orders" (Utf8, Json);
        orders -> to("copy", Utf8, Json);
    };
}
