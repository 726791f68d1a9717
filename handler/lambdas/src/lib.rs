//! What the two Lambda binaries share: the site's content, compiled in (the
//! error pages and the digest's words come from it), written out once at cold
//! start so `mutualaid_site::Site::load` reads it as it reads `content/`.

use include_dir::{Dir, include_dir};

static CONTENT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../content");

/// Writes the compiled-in content to a temporary folder and loads the site.
pub fn load_site() -> Result<mutualaid_site::Site, String> {
    let dir = std::env::temp_dir().join(format!("mutualaid-content-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    CONTENT
        .extract(&dir)
        .map_err(|e| format!("writing the content to {}: {e}", dir.display()))?;
    mutualaid_site::Site::load(&dir).map_err(|e| format!("loading the content: {e}"))
}

/// JSON logs on stdout, as CloudWatch expects; the runtime adds the time.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .init();
}
