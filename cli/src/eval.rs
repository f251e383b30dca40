//! `unpic eval`: predictions over a labelled image set (a folder of class folders, or a zip of
//! one), with accuracy, per-class accuracy and the confusion matrix. Images are decoded one
//! batch at a time.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use explain_core::data::{Dataset, ImageSource, ZipDataset, prepare_batch};
use explain_core::metrics::Evaluation;
use explain_core::model::check_scores;
use serde_json::json;

use crate::input_args::{load_classifier, read};
use crate::preprocess_args::PreprocessArgs;
use crate::progress::Bar;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// A folder with one subfolder of images per class, or a .zip of such a folder.
    #[arg(long)]
    pub data: PathBuf,
    /// Class names of the model (one per line, or a JSON array): folders are matched to them by
    /// name. Without it, the sorted folders are classes 0, 1, 2, ...
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64, value_parser = crate::input_args::parse_batch)]
    pub batch: usize,
    /// Print JSON (`{"classes", "accuracy", "per_class", "confusion", "files", "skipped"}`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

/// Opens a folder of class folders, or a zip of one, as an image source.
pub fn open_source(path: &Path) -> Result<Box<dyn ImageSource>> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    if path.is_dir() {
        let mut files = Vec::new();
        list(path, path, &mut files)?;
        let dataset = Dataset::from_paths(&name, files)?;
        Ok(Box::new(Folder {
            root: path.to_path_buf(),
            dataset,
        }))
    } else if path.is_file() {
        Ok(Box::new(ZipDataset::from_bytes(
            &name,
            read(&path.to_path_buf())?,
        )?))
    } else {
        bail!(
            "{} does not exist (give a folder of class folders or a .zip)",
            path.display()
        )
    }
}

/// A dataset in a folder on disk.
struct Folder {
    root: PathBuf,
    dataset: Dataset,
}

impl ImageSource for Folder {
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    fn read(&mut self, path: &str) -> explain_core::Result<Vec<u8>> {
        let full = self.root.join(path);
        std::fs::read(&full).map_err(|e| {
            explain_core::Error::Dataset(format!("cannot read {}: {e}", full.display()))
        })
    }
}

/// Every file under `dir`, as `/`-separated paths relative to `root`. Links to folders are not
/// followed: a link to a parent would list the same images forever, under ever longer paths.
fn list(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list(root, &path, out)?;
        } else if kind.is_symlink() && path.is_dir() {
            eprintln!("note: {} links to a folder: not followed", path.display());
        } else if let Ok(relative) = path.strip_prefix(root) {
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

pub fn run(args: EvalArgs) -> Result<()> {
    let classifier = load_classifier(
        &args.model,
        args.labels.as_ref(),
        args.preprocess.model_size()?,
    )?;
    let mut source = open_source(&args.data)?;
    let pre = args.preprocess.resolve(classifier.input())?;
    let evaluation = evaluate(
        &classifier,
        source.as_mut(),
        args.labels.is_some(),
        &pre,
        args.batch,
        "eval",
    )?;
    if args.json {
        let json = json!({
            "classes": evaluation.classes,
            "accuracy": evaluation.accuracy(),
            "per_class": evaluation.per_class(),
            "confusion": evaluation.confusion,
            "files": evaluation.files,
            "skipped": evaluation.skipped,
        });
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print_summary(&evaluation);
    }
    Ok(())
}

/// Predicts every image of `source` in batches of `batch` and scores them against their folders'
/// classes (matched by name to the model's labels when `named_labels`, else in sorted order),
/// printing the conversions the images needed.
pub fn evaluate(
    classifier: &explain_core::Classifier,
    source: &mut dyn ImageSource,
    named_labels: bool,
    pre: &explain_core::data::Preprocess,
    batch: usize,
    what: &str,
) -> Result<Evaluation> {
    let dataset = source.dataset().clone();
    let labels = named_labels.then(|| classifier.labels().to_vec());
    let model_class = dataset.model_classes(labels.as_deref(), classifier.num_classes())?;
    let names = if named_labels {
        classifier.labels().to_vec()
    } else {
        dataset.class_names(&model_class, classifier.labels())
    };
    let mut evaluation = Evaluation::new(names);
    let mut notes = std::collections::BTreeSet::new();
    let mut bar = Bar::new(what, dataset.items.len());
    for chunk in dataset.items.chunks(batch.max(1)) {
        let batch = prepare_batch(source, chunk, pre)?;
        notes.extend(batch.notes);
        for skipped in &batch.skipped {
            bar.warn(&format!("skipped: {}", skipped.reason));
        }
        evaluation.skipped.extend(batch.skipped);
        if !batch.kept.is_empty() {
            let kept: Vec<_> = batch.kept.iter().map(|&i| &chunk[i]).collect();
            let logits = classifier
                .logits(classifier.batch(batch.data, kept.len())?)?
                .to_vec()?;
            check_scores(&logits, classifier.num_classes(), |i| {
                format!("'{}'", kept[i].path)
            })?;
            for (item, row) in kept.iter().zip(logits.chunks(classifier.num_classes())) {
                evaluation.add(&item.path, model_class[item.label], row);
            }
        }
        bar.advance(chunk.len());
    }
    bar.finish();
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(evaluation)
}

fn print_summary(e: &Evaluation) {
    println!("accuracy {:.4} on {} images", e.accuracy(), e.files.len());
    if !e.skipped.is_empty() {
        println!(
            "{} image(s) could not be read and were left out",
            e.skipped.len()
        );
    }
    for (k, a) in e.per_class_worst_first() {
        println!("{a:>8.4}  {}", e.classes[k]);
    }
    println!("confusion (rows: true, columns: predicted)");
    for row in &e.confusion {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
        println!("{}", cells.join(""));
    }
}
