#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "shop";
        stream orders: String => u32 from "orders" (Utf8, Json);
        order -> filter(|_, q| *q > 0) -> to("big-orders", Utf8, Json);
    };
}
