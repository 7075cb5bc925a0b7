use tributary_macros::Event;

#[derive(Event)]
struct View {
    #[event(timestamp)]
    at: String,
}
fn main() {}
