include!("../../scripts/build-version.rs");

fn main() {
    emit_version();
}
