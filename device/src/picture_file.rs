//! Pictures written to files (`s2i generate --out`, `s2i grid --out`, the PNG display): the
//! format comes from the name and is checked before any work is done, and a file is replaced
//! atomically (encoded into a temporary file beside it, flushed to disk, renamed over it), so a
//! full disk or a crash leaves the previous picture whole and no half-written one.

use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};

/// The formats a picture can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png(CompressionType),
    Jpeg,
}

/// Why a picture file cannot be (or was not) written. Each names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct PictureFileError {
    pub path: String,
    pub problem: String,
}

fn refuse(path: &Path, problem: impl Into<String>) -> PictureFileError {
    PictureFileError {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// A checked destination for pictures.
#[derive(Debug, Clone)]
pub struct PictureFile {
    path: PathBuf,
    format: Format,
}

/// Refuses a destination that is a folder or an existing device, pipe or socket (renaming over
/// `/dev/null` would replace it).
fn check_destination(path: &Path) -> Result<(), PictureFileError> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            return Err(refuse(
                path,
                "is a directory; give a file name inside it, e.g. bird.png",
            ));
        }
        if !meta.is_file() {
            return Err(refuse(
                path,
                format!(
                    "is {}; pictures are written to regular files only",
                    s2i_shared::input_file::describe(meta.file_type())
                ),
            ));
        }
    }
    if path.file_name().is_none() || path.as_os_str().to_string_lossy().ends_with('/') {
        return Err(refuse(
            path,
            "names a folder; give a file name, e.g. bird.png",
        ));
    }
    Ok(())
}

impl PictureFile {
    /// `path` if a picture can be written there: a `.png`, `.jpg` or `.jpeg` name, not a
    /// folder, not an existing device or pipe. Nothing is created yet.
    pub fn new(path: &Path) -> Result<Self, PictureFileError> {
        check_destination(path)?;
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        let format = match extension.as_deref() {
            Some("png") => Format::Png(CompressionType::Default),
            Some("jpg" | "jpeg") => Format::Jpeg,
            Some(other) => {
                return Err(refuse(
                    path,
                    format!("cannot write a .{other} picture; use a .png (or .jpg) file name"),
                ))
            }
            None => {
                return Err(refuse(
                    path,
                    "has no extension; use a .png (or .jpg) file name",
                ))
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            format,
        })
    }

    /// A PNG at `path` whatever its name says (the PNG display's screen file).
    pub fn png(path: &Path, compression: CompressionType) -> Result<Self, PictureFileError> {
        check_destination(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            format: Format::Png(compression),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encodes `image` into a temporary file beside the destination (creating its folder),
    /// flushes it to disk and renames it over the destination. On any failure the destination
    /// is as it was and the temporary file is gone.
    pub fn write(&self, image: &RgbImage) -> Result<(), PictureFileError> {
        let path = &self.path;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            refuse(
                path,
                format!("cannot create the folder {}: {e}", dir.display()),
            )
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "picture".into());
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = self.write_to(&temp, image).and_then(|()| {
            std::fs::rename(&temp, path)
                .map_err(|e| format!("cannot rename {} over it: {e}", temp.display()))
        });
        if written.is_err() {
            // A failed write leaves the previous picture in place and no litter.
            let _ = std::fs::remove_file(&temp);
        }
        written.map_err(|problem| refuse(path, problem))
    }

    fn write_to(&self, temp: &Path, image: &RgbImage) -> Result<(), String> {
        let file = std::fs::File::create(temp)
            .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let (w, h) = image.dimensions();
        let raw = image.as_raw();
        let encoded = match self.format {
            Format::Png(compression) => {
                PngEncoder::new_with_quality(&mut out, compression, FilterType::Adaptive)
                    .write_image(raw, w, h, image::ExtendedColorType::Rgb8)
            }
            Format::Jpeg => JpegEncoder::new_with_quality(&mut out, 92).write_image(
                raw,
                w,
                h,
                image::ExtendedColorType::Rgb8,
            ),
        };
        encoded.map_err(|e| format!("cannot write the picture: {e}"))?;
        let file = out
            .into_inner()
            .map_err(|e| format!("cannot write {}: {}", temp.display(), e.error()))?;
        file.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", temp.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_decides_the_format_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let bmp = dir.path().join("x.bmp");
        let e = PictureFile::new(&bmp).unwrap_err().to_string();
        assert!(e.ends_with("cannot write a .bmp picture; use a .png (or .jpg) file name"));
        assert!(!bmp.exists());
        let e = PictureFile::new(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("is a directory; give a file name inside it, e.g. bird.png"));
        let e = PictureFile::new(Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "/dev/null: is a character device; pictures are written to regular files only"
        );
        let e = PictureFile::new(Path::new("out")).unwrap_err().to_string();
        assert!(e.ends_with("has no extension; use a .png (or .jpg) file name"));
    }

    #[test]
    fn pictures_replace_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/bird.png");
        let picture = PictureFile::new(&path).unwrap();
        let red = RgbImage::from_pixel(5, 4, image::Rgb([255, 0, 0]));
        picture.write(&red).unwrap();
        assert_eq!(image::open(&path).unwrap().to_rgb8(), red);
        let jpeg = dir.path().join("bird.JPG");
        PictureFile::new(&jpeg).unwrap().write(&red).unwrap();
        assert_eq!(image::open(&jpeg).unwrap().width(), 5);
        let litter: Vec<_> = std::fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(litter, ["bird.png"]);
    }
}
