//! `tributary topology`: an application's topology drawn offline.

use crate::cli::{DiagramFormat, TopologyArgs};
use anyhow::{Context, Result, bail};
use tributary::topology::TopologyDescription;

pub(crate) fn run(cmd: &TopologyArgs) -> Result<()> {
    let path = match (&cmd.file, &cmd.app) {
        (Some(f), _) => f.clone(),
        (None, Some(app)) => cmd.state_dir.join(app).join("topology.json"),
        (None, None) => bail!("give --file FILE (from GET /topology) or --app NAME"),
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (a stateful application writes it when it starts; any running \
             application serves it at GET /topology)",
            path.display()
        )
    })?;
    let description: TopologyDescription = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a topology description", path.display()))?;
    match cmd.format {
        DiagramFormat::Mermaid => print!("{}", description.to_mermaid()),
        DiagramFormat::Dot => print!("{}", description.to_dot()),
        DiagramFormat::Text => print!("{description}"),
    }
    Ok(())
}
