//! The SEN as trained: speech encoder, image encoder and the class head, in one `VarStore`
//! under `sed/`, `ied/` and `class_head/`.

use tch::{nn, Tensor};

use super::config::SenConfig;
use super::image_encoder::{Backbone, ImageEncoder, SmallCnn};
use super::inception::InceptionFeatures;
use super::loss::{matching_loss, ClassHead};
use super::speech_encoder::SpeechEncoder;

#[derive(Debug)]
pub struct Sen {
    pub config: SenConfig,
    pub speech: SpeechEncoder,
    pub image: ImageEncoder,
    pub class_head: ClassHead,
    pub num_classes: i64,
}

/// The losses of one batch.
#[derive(Debug)]
pub struct SenLosses {
    pub total: Tensor,
    pub matching: Tensor,
    /// Zero when L_d is switched off.
    pub distinctive: Tensor,
}

impl Sen {
    /// `inception`: the frozen backbone, or `None` for the jointly trained small CNN.
    pub fn new(
        root: &nn::Path,
        config: &SenConfig,
        num_classes: i64,
        inception: Option<InceptionFeatures>,
    ) -> Self {
        let d = config.embedding_dim();
        let backbone = match inception {
            Some(inc) => Backbone::Inception(inc),
            None => Backbone::SmallCnn(SmallCnn::new(root / "ied" / "cnn", &config.image)),
        };
        Self {
            config: config.clone(),
            speech: SpeechEncoder::new(root / "sed", &config.speech),
            image: ImageEncoder::new(root / "ied", backbone, d),
            class_head: ClassHead::new(root / "class_head", d, num_classes.max(1)),
            num_classes,
        }
    }

    /// L = L_m + L_d (spec §4.2) for a batch whose classes are training classes.
    pub fn losses(
        &self,
        speech: &Tensor,
        lengths: &[i64],
        images: &Tensor,
        class_ids: &Tensor,
        train: bool,
    ) -> SenLosses {
        let s = self.speech.forward_t(speech, lengths, train);
        let v = self.image.forward_t(images, train);
        let matching = matching_loss(&v, &s, class_ids, self.config.loss.gamma);
        let distinctive = if self.config.loss.distinctive {
            self.class_head.distinctive_loss(&v, &s, class_ids)
        } else {
            Tensor::zeros([], (tch::Kind::Float, speech.device()))
        };
        SenLosses {
            total: &matching + &distinctive,
            matching,
            distinctive,
        }
    }
}
