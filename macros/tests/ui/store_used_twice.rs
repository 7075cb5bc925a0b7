#![allow(unused_imports)]
use tributary::codec::{Json, Utf8};
use tributary_macros::pipeline;

fn main() {
    let _ = pipeline! {
        app "shop";
        stream orders: String => u32 from "orders" (Utf8, Json);
        orders -> group_by_key() -> count("per-user") -> to("counts", Utf8, Json);
        orders -> group_by_key() -> reduce("per-user", |a, b| a + b) -> to("sums", Utf8, Json);
    };
}
