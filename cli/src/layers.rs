//! `unpic layers`: every tensor of the model a user can inspect, with op, shape, whether it is
//! a feature map or a transformer's token sequence a CAM can read, and the suggested Grad-CAM layer.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use explain_core::onnx::{Layer, format_shape};

use crate::input_args::load_classifier;

#[derive(Args, Debug)]
pub struct LayersArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// The image size HxW to run a model that takes any size at.
    #[arg(long, value_parser = crate::input_args::parse_size)]
    pub size: Option<[usize; 2]>,
    /// Print JSON (`{"input": .., "classes": K, "gradcam_layer": .., "layers": [..]}`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: LayersArgs) -> Result<()> {
    let classifier = load_classifier(&args.model, None, args.size.map(|s| (s, "--size")))?;
    let table = classifier.layer_table();
    if args.json {
        let json = serde_json::json!({
            "input": classifier.input(),
            "classes": classifier.num_classes(),
            "gradcam_layer": table.gradcam_layer,
            "layers": table.layers,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let width = table
        .layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:<width$}  {:<20}  {:<22}  CAM", "name", "op", "shape");
    for layer in &table.layers {
        println!(
            "{:<width$}  {:<20}  {:<22}  {}{}",
            layer.name,
            layer.op,
            format_shape(&layer.shape),
            cam_form(layer),
            marker(layer, table.gradcam_layer.as_deref()),
        );
    }
    match &table.gradcam_layer {
        Some(name) => println!("\nsuggested Grad-CAM layer: {name}"),
        None => println!("\nno spatial feature map: Grad-CAM does not apply to this model"),
    }
    Ok(())
}

/// How a class activation map reads the layer: a feature map, or a transformer's tokens on
/// their patch grid (with the leading class/register tokens it drops).
fn cam_form(layer: &Layer) -> String {
    match (layer.spatial, layer.tokens) {
        (true, _) => "map".into(),
        (false, Some(grid)) => format!("tokens {}x{} (+{})", grid.height, grid.width, grid.skip),
        (false, None) => String::new(),
    }
}

fn marker(layer: &Layer, suggested: Option<&str>) -> &'static str {
    if suggested == Some(layer.name.as_str()) {
        "  <- Grad-CAM"
    } else {
        ""
    }
}
