use tributary_macros::Event;

#[derive(Event)]
struct View {
    user: String,
    at: i64,
}
fn main() {}
