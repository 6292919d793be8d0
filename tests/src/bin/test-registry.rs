//! Starts a registry holding berth's test images and keeps it running until killed:
//! `test-registry DIR PORT`. Prints `ready <addr>` once the images are in.

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "/tmp/berth-registry".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(5000);
    let reg = berth_tests::Registry::start_in(dir.into(), port);
    let images = berth_tests::images::push_test_images(&reg);
    for (name, digest) in &images.digests {
        println!("{}/library/{name} {digest}", reg.addr);
    }
    println!("ready {}", reg.addr);
    loop {
        std::thread::park();
    }
}
