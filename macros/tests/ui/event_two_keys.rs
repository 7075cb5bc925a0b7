use tributary_macros::Event;

#[derive(Event)]
struct View {
    #[event(key)]
    user: String,
    #[event(key)]
    item: String,
}
fn main() {}
