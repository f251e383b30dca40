//! A labelled image set: class folders (the folder name is the class), from a directory listing
//! or a zip archive of the same layout (the demo, or a user's upload).
//!
//! Only the listing is kept: image bytes are read one batch at a time by whoever streams the
//! set, so a large set never sits decoded in memory.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};

use crate::error::{Error, Result};

/// File extensions read as images.
const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "jfif"];

/// One image of the set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Path relative to the set's root, `/`-separated (`class/file.png`).
    pub path: String,
    /// Index into [`Dataset::classes`].
    pub label: usize,
}

/// Classes (sorted folder names) and images (sorted by path within each class).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dataset {
    pub name: String,
    pub classes: Vec<String>,
    pub items: Vec<Item>,
}

fn is_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    IMAGE_EXTENSIONS
        .iter()
        .any(|ext| lower.rsplit_once('.').is_some_and(|(_, e)| e == *ext))
}

fn is_hidden(path: &str) -> bool {
    path.split('/')
        .any(|part| part.starts_with('.') || part == "__MACOSX")
}

impl Dataset {
    /// Builds the set from relative paths (`class/…/file.png`). A single folder wrapping all
    /// class folders (how zips are usually made) is looked through. Hidden and non-image files
    /// are skipped; images directly in the root have no class and are refused.
    pub fn from_paths(name: &str, paths: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut paths: Vec<String> = paths
            .into_iter()
            .map(|p| p.replace('\\', "/").trim_start_matches("./").to_string())
            .collect();
        // Checked before hidden files are dropped: `..` would count as hidden.
        if let Some(escaping) = paths.iter().find(|p| escapes_its_folder(p)) {
            return Err(Error::Dataset(format!(
                "'{name}' holds the entry '{escaping}', which points outside its folder (an \
                 absolute path or '..'); such archives are refused. Make the zip again from \
                 the folder of class folders"
            )));
        }
        paths.retain(|p| !is_hidden(p) && is_image(p));
        // Look through one wrapping folder: `set/class/file.png` -> `class/file.png`.
        while let Some(root) = common_root(&paths) {
            paths = paths
                .iter()
                .map(|p| p[root.len() + 1..].to_string())
                .collect();
        }
        if paths.is_empty() {
            return Err(Error::Dataset(format!(
                "'{name}' contains no images (PNG, JPEG, GIF, BMP or WebP); expected one folder \
                 per class with the images inside"
            )));
        }
        if let Some(loose) = paths.iter().find(|p| !p.contains('/')) {
            return Err(Error::Dataset(format!(
                "'{loose}' is not inside a class folder; put each class's images in a folder \
                 named after the class"
            )));
        }
        paths.sort();
        if let Some(twice) = paths.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Dataset(format!(
                "'{name}' holds '{}' twice, so which image it means is unclear; remove one \
                 copy (make the zip again from the folder)",
                twice[0]
            )));
        }
        let mut classes: Vec<String> = paths
            .iter()
            .map(|p| p.split('/').next().unwrap_or_default().to_string())
            .collect();
        classes.dedup();
        let index: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let items = paths
            .iter()
            .map(|p| Item {
                label: index[p.split('/').next().unwrap_or_default()],
                path: p.clone(),
            })
            .collect();
        Ok(Self {
            name: name.to_string(),
            classes,
            items,
        })
    }

    /// Number of images per class.
    pub fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for item in &self.items {
            counts[item.label] += 1;
        }
        counts
    }

    /// One name per model class: the folder of each class that has one (given by
    /// `model_class`, as from [`Dataset::model_classes`]), else the model's label.
    pub fn class_names(&self, model_class: &[usize], labels: &[String]) -> Vec<String> {
        let mut names = labels.to_vec();
        for (folder, &class) in self.classes.iter().zip(model_class) {
            if let Some(name) = names.get_mut(class) {
                *name = folder.clone();
            }
        }
        names
    }

    /// The model class of each folder. With the model's labels, folders are matched to labels
    /// by name (case, punctuation and a leading `3_`-style index ignored); without, the sorted
    /// folders are classes 0, 1, 2, … in order.
    pub fn model_classes(
        &self,
        labels: Option<&[String]>,
        num_classes: usize,
    ) -> Result<Vec<usize>> {
        match labels {
            None => {
                if self.classes.len() > num_classes {
                    return Err(Error::Dataset(format!(
                        "the data has {} class folders but the model has {num_classes} classes; \
                         give a labels file to match folders to classes by name",
                        self.classes.len()
                    )));
                }
                Ok((0..self.classes.len()).collect())
            }
            Some(labels) => {
                let keys: Vec<String> = labels.iter().map(|l| normalise(l)).collect();
                self.classes
                    .iter()
                    .map(|folder| {
                        let key = normalise(folder);
                        keys.iter().position(|k| *k == key).ok_or_else(|| {
                            Error::Dataset(format!(
                                "the folder '{folder}' matches no class label; rename it to one \
                                 of the labels ({})",
                                labels.join(", ")
                            ))
                        })
                    })
                    .collect()
            }
        }
    }
}

/// `"3_T-shirt/top"` -> `"tshirttop"`: case, punctuation and a leading index do not matter.
fn normalise(name: &str) -> String {
    let trimmed = name.trim_start_matches(|c: char| c.is_ascii_digit());
    let trimmed = if trimmed.len() < name.len() {
        trimmed.trim_start_matches(['_', '-', ' ', '.'])
    } else {
        name
    };
    let trimmed = if trimmed.is_empty() { name } else { trimmed };
    trimmed
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// An absolute path (`/x`, `C:/x`) or one with a `..` component: an archive entry that would
/// land outside the folder it is unpacked in.
fn escapes_its_folder(path: &str) -> bool {
    path.starts_with('/')
        || path.as_bytes().get(1) == Some(&b':')
        || path.split('/').any(|part| part == "..")
}

/// The first path component if every path has it and more below it.
fn common_root(paths: &[String]) -> Option<String> {
    let first = paths.first()?.split('/').next()?.to_string();
    let all = paths.iter().all(|p| {
        let mut parts = p.split('/');
        parts.next() == Some(first.as_str()) && p.matches('/').count() >= 2
    });
    all.then_some(first)
}

/// Where a dataset's image bytes come from: a zip archive, files picked in the browser, a folder
/// on disk. Readers stream the set through this, one batch at a time.
pub trait ImageSource {
    /// The set's listing.
    fn dataset(&self) -> &Dataset;
    /// The bytes of the image at `path` (a [`Item::path`]).
    fn read(&mut self, path: &str) -> Result<Vec<u8>>;
}

/// A dataset held as files in memory (a folder the user picked or dropped in the browser).
pub struct FileSet {
    pub dataset: Dataset,
    files: HashMap<String, Vec<u8>>,
}

impl FileSet {
    /// Builds the set from `(relative path, bytes)` pairs; see [`Dataset::from_paths`].
    pub fn new(name: &str, files: Vec<(String, Vec<u8>)>) -> Result<Self> {
        let dataset = Dataset::from_paths(name, files.iter().map(|(p, _)| p.clone()))?;
        let mut by_path = HashMap::new();
        let paths = dataset_paths(&dataset);
        for (name, bytes) in files {
            if let Some(path) = dataset_path_of(&name, &paths) {
                by_path.entry(path).or_insert(bytes);
            }
        }
        Ok(Self {
            dataset,
            files: by_path,
        })
    }
}

impl ImageSource for FileSet {
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| Error::Dataset(format!("'{path}' is not in the image set")))
    }
}

/// The dataset's paths, for [`dataset_path_of`].
fn dataset_paths(dataset: &Dataset) -> HashSet<String> {
    dataset.items.iter().map(|i| i.path.clone()).collect()
}

/// The dataset path a file or entry name stands for: the name itself or its longest suffix
/// after a wrapping folder that is a path of the dataset. A few hash lookups per name, so
/// 100,000 files are matched at once rather than each against every item.
fn dataset_path_of(name: &str, paths: &HashSet<String>) -> Option<String> {
    let clean = name.replace('\\', "/");
    std::iter::once(clean.as_str())
        .chain(clean.match_indices('/').map(|(at, _)| &clean[at + 1..]))
        .find(|s| paths.contains(*s))
        .map(str::to_string)
}

/// The number of entries a zip's end-of-central-directory record declares (`None` when there
/// is none to be found, or the archive is zip64 and keeps the count elsewhere).
fn declared_entries(bytes: &[u8]) -> Option<usize> {
    const SIGNATURE: [u8; 4] = *b"PK\x05\x06";
    // The record is 22 bytes plus a comment of at most 65535.
    let earliest = bytes.len().saturating_sub(22 + 65535);
    let at = (earliest..=bytes.len().checked_sub(22)?)
        .rev()
        .find(|&i| bytes[i..i + 4] == SIGNATURE)?;
    let total = u16::from_le_bytes([bytes[at + 10], bytes[at + 11]]);
    (total != u16::MAX).then_some(usize::from(total))
}

/// The default most bytes one image file of a dataset may hold: photos are a few MB, and an
/// entry that claims or unpacks to more is refused rather than allocated (a zip bomb). The limit
/// in force is [`crate::limits::current`]'s `file_bytes`.
pub const MAX_FILE_BYTES: u64 = crate::limits::Limits::DEFAULT.file_bytes;

/// A dataset inside a zip archive, read entry by entry.
pub struct ZipDataset {
    pub dataset: Dataset,
    archive: zip::ZipArchive<Cursor<Vec<u8>>>,
    /// Dataset path -> archive entry name.
    entries: HashMap<String, String>,
}

impl ZipDataset {
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Self> {
        let declared = declared_entries(&bytes);
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
            Error::Dataset(format!("'{name}' could not be read as a zip archive ({e})"))
        })?;
        // The archive indexes entries by name, so a repeated name silently hides one of them:
        // compare with the count the archive's end record declares.
        if let Some(declared) = declared
            && declared != archive.len()
        {
            return Err(Error::Dataset(format!(
                "'{name}' holds {declared} entries under {} names: a name appears more than \
                 once, so which file it means is unclear. Make the zip again from the folder",
                archive.len()
            )));
        }
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.map(|n| n.to_string()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Dataset(format!("'{name}': an entry name is unreadable ({e})")))?;
        let dataset = Dataset::from_paths(name, names.iter().cloned())?;
        // Map back: a dataset path is a suffix of its entry name (after the wrapping folders).
        let paths = dataset_paths(&dataset);
        let mut entries = HashMap::new();
        for entry in names {
            if let Some(path) = dataset_path_of(&entry, &paths) {
                entries.entry(path).or_insert(entry);
            }
        }
        Ok(Self {
            dataset,
            archive,
            entries,
        })
    }
}

impl ImageSource for ZipDataset {
    fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>> {
        let entry = self
            .entries
            .get(path)
            .ok_or_else(|| Error::Dataset(format!("'{path}' is not in the archive")))?;
        let file = self
            .archive
            .by_name(entry)
            .map_err(|e| Error::Dataset(format!("'{path}': {e}")))?;
        // The header's size is only a claim: the read stops one byte past the limit either way.
        let most = crate::limits::current().file_bytes;
        let too_large = || {
            Error::Dataset(format!(
                "'{path}' is larger than {} MB, the most one image file may be; remove it from \
                 the archive",
                most >> 20
            ))
        };
        if file.size() > most {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(file.size() as usize);
        file.take(most + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Dataset(format!("'{path}': {e}")))?;
        if bytes.len() as u64 > most {
            return Err(too_large());
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A zip of `entries` (name, bytes), deflated.
    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        for (name, bytes) in entries {
            zip.start_file(*name, options).expect("entry");
            zip.write_all(bytes).expect("write");
        }
        zip.finish().expect("zip").into_inner()
    }

    #[test]
    fn a_zip_bomb_entry_is_refused_without_unpacking_it_whole() {
        // 300 MB of zeros deflate to about 300 KB: past the limit, refused with its name.
        let bomb = vec![0u8; (MAX_FILE_BYTES + (44 << 20)) as usize];
        let bytes = zip_of(&[("set/cat/bomb.png", &bomb), ("set/dog/ok.png", b"png")]);
        drop(bomb);
        assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
        let mut set = ZipDataset::from_bytes("bomb.zip", bytes).expect("listing is cheap");
        assert_eq!(set.read("dog/ok.png").expect("the others read"), b"png");
        let err = set.read("cat/bomb.png").expect_err("refused").to_string();
        assert!(err.contains("bomb.png") && err.contains("256 MB"), "{err}");
    }

    #[test]
    fn class_folders_are_sorted_and_wrapping_folders_looked_through() {
        let d = Dataset::from_paths(
            "set",
            paths(&[
                "set/dog/b.png",
                "set/cat/z.jpg",
                "set/dog/a.PNG",
                "set/.DS_Store",
                "set/cat/notes.txt",
                "__MACOSX/set/cat/._z.jpg",
            ]),
        )
        .expect("dataset");
        assert_eq!(d.classes, ["cat", "dog"]);
        let listed: Vec<(&str, usize)> =
            d.items.iter().map(|i| (i.path.as_str(), i.label)).collect();
        assert_eq!(
            listed,
            [("cat/z.jpg", 0), ("dog/a.PNG", 1), ("dog/b.png", 1)]
        );
        assert_eq!(d.counts(), [1, 2]);
    }

    #[test]
    fn loose_images_and_empty_sets_are_explained() {
        let loose = Dataset::from_paths("x", paths(&["a.png", "cat/b.png"])).expect_err("loose");
        assert!(loose.to_string().contains("class folder"), "{loose}");
        let empty = Dataset::from_paths("x", paths(&["readme.md"])).expect_err("empty");
        assert!(empty.to_string().contains("no images"), "{empty}");
    }

    #[test]
    fn folders_match_labels_by_name() {
        let d = Dataset::from_paths("x", paths(&["0_tshirt_top/a.png", "9_ankle_boot/b.png"]))
            .expect("dataset");
        let labels: Vec<String> = ["T-shirt/top", "Trouser", "Ankle boot"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(d.model_classes(Some(&labels), 3).expect("match"), [0, 2]);
        assert_eq!(d.model_classes(None, 10).expect("by order"), [0, 1]);
        let wrong: Vec<String> = vec!["cat".into(), "dog".into()];
        assert!(d.model_classes(Some(&wrong), 2).is_err());
    }

    /// A picked folder arrives as files under the folder's own name; each is found again by its
    /// dataset path, and a file whose name only ends like another's is not confused with it.
    #[test]
    fn names_map_to_dataset_paths_through_wrapping_folders() {
        let paths: HashSet<String> = ["cat/a.png", "dog/a.png"].map(String::from).into();
        let of = |name| dataset_path_of(name, &paths);
        assert_eq!(of("cat/a.png").as_deref(), Some("cat/a.png"));
        assert_eq!(of("set/test/dog/a.png").as_deref(), Some("dog/a.png"));
        assert_eq!(of("set\\cat\\a.png").as_deref(), Some("cat/a.png"));
        assert_eq!(of("set/bird/a.png"), None);
        assert_eq!(of("xcat/a.png"), None, "only whole folder names");
    }

    #[test]
    fn a_file_set_reads_each_image_by_its_dataset_path() {
        let files = vec![
            ("pick/cat/a.png".to_string(), vec![1]),
            ("pick/dog/a.png".to_string(), vec![2]),
            ("pick/dog/xa.png".to_string(), vec![3]),
        ];
        let mut set = FileSet::new("pick", files).expect("set");
        assert_eq!(set.dataset().classes, ["cat", "dog"]);
        assert_eq!(set.read("cat/a.png").expect("cat"), [1]);
        assert_eq!(set.read("dog/a.png").expect("dog"), [2]);
        assert_eq!(set.read("dog/xa.png").expect("xa"), [3]);
        assert!(set.read("cow/a.png").is_err());
        let names = set
            .dataset()
            .class_names(&[1, 0], &["x".into(), "y".into(), "z".into()]);
        assert_eq!(names, ["dog", "cat", "z"]);
    }
}
