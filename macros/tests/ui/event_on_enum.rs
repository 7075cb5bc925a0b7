use tributary_macros::Event;

#[derive(Event)]
enum View {
    Click { user: String },
}
fn main() {}
