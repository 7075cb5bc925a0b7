use tributary_macros::Event;

#[derive(Event)]
struct View {
    #[event(partition)]
    user: String,
}
fn main() {}
