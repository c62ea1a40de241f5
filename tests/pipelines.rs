//! Every file in `pipelines/` loads and validates.

use crate::support::root;

#[test]
fn every_example_pipeline_validates() {
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("pipelines")).expect("pipelines/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let pipeline = runnel::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(pipeline.warnings().is_empty(), "{}: {:?}", path.display(), pipeline.warnings());
            checked += 1;
        }
    }
    assert!(checked >= 1);
}
