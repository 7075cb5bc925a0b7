#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "shop";
        stream orders: String => u32 from "orders" (Utf8, Json);
        stream again: String => u32 from "orders" (Utf8, Json);
        orders -> merge(again) -> to("all-orders", Utf8, Json);
    };
}
