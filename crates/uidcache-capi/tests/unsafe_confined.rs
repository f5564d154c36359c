//! Every `unsafe` block, function, impl and trait of the C API is in `src/boundary.rs`;
//! the other modules only carry `#[unsafe(no_mangle)]` on their exports.

use std::path::Path;

#[test]
fn unsafe_code_lives_only_in_the_boundary_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut boundary_blocks = 0;
    for entry in std::fs::read_dir(&src).expect("src/") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let unsafe_use = [
                "unsafe {",
                "unsafe fn",
                "unsafe impl",
                "unsafe trait",
                "unsafe extern",
            ]
            .iter()
            .any(|u| code.contains(u));
            if unsafe_use {
                if name == "boundary.rs" {
                    boundary_blocks += 1;
                } else {
                    found.push(format!("{name}:{}: {line}", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside boundary.rs:\n{}",
        found.join("\n")
    );
    // The scan sees the boundary's own blocks, so it would see others.
    assert!(boundary_blocks >= 5, "{boundary_blocks}");
}
