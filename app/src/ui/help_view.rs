//! The Help view: what each view and method shows, and the paper it comes from.

use leptos::prelude::*;

/// One method: name, what it shows, how to read it, and its paper.
struct Method {
    name: &'static str,
    what: &'static str,
    paper: &'static str,
    url: &'static str,
}

const METHODS: [Method; 18] = [
    Method {
        name: "Occlusion sensitivity",
        what: "Slides a grey patch over the image and records how much the class score drops. Large drops mark regions the network needs. Fast uses big patches and strides, Detailed small ones (slower). Needs no gradients, so it works for any network.",
        paper: "Zeiler & Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014",
        url: "https://arxiv.org/abs/1311.2901",
    },
    Method {
        name: "Grad-CAM",
        what: "Weights a convolutional layer's feature maps by the average gradient of the class score and keeps the positive part: a coarse map of where the evidence for the class lies. Deeper layers give coarser, more class-specific maps; the suggested layer is the last spatial one.",
        paper: "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization, ICCV 2017",
        url: "https://arxiv.org/abs/1610.02391",
    },
    Method {
        name: "Grad-CAM++",
        what: "Grad-CAM with per-pixel weights from higher-order gradient terms; better when several instances of a class appear.",
        paper: "Chattopadhay et al., Grad-CAM++, WACV 2018",
        url: "https://arxiv.org/abs/1710.11063",
    },
    Method {
        name: "HiResCAM",
        what: "Multiplies the gradient and the activations element-wise before summing over channels, so the map shows exactly what the layer contributed to the score.",
        paper: "Draelos & Carin, Use HiResCAM instead of Grad-CAM for faithful explanations, 2020",
        url: "https://arxiv.org/abs/2011.08891",
    },
    Method {
        name: "LayerCAM",
        what: "Keeps only positive gradients, per location; works at shallow layers too, giving finer maps.",
        paper: "Jiang et al., LayerCAM: Exploring Hierarchical Class Activation Maps for Localization, IEEE TIP 2021",
        url: "https://doi.org/10.1109/TIP.2021.3089943",
    },
    Method {
        name: "Score-CAM",
        what: "Weights each feature map by how much the class score rises when the image is masked by that (upsampled) map: no gradients, one forward pass per channel.",
        paper: "Wang et al., Score-CAM: Score-Weighted Visual Explanations for CNNs, CVPR workshops 2020",
        url: "https://arxiv.org/abs/1910.01279",
    },
    Method {
        name: "Saliency (gradient)",
        what: "The absolute gradient of the class score with respect to each pixel: which pixels would change the score most. Sharp but noisy.",
        paper: "Simonyan et al., Deep Inside Convolutional Networks: Visualising Image Classification Models and Saliency Maps, ICLR workshop 2014",
        url: "https://arxiv.org/abs/1312.6034",
    },
    Method {
        name: "Gradient × input",
        what: "The gradient multiplied by the pixel values: signed, red for evidence for the class, blue against it.",
        paper: "Shrikumar et al., Not Just a Black Box: Learning Important Features Through Propagating Activation Differences, 2016",
        url: "https://arxiv.org/abs/1605.01713",
    },
    Method {
        name: "SmoothGrad",
        what: "Averages the gradient over copies of the image with Gaussian noise added, which removes much of the saliency map's noise.",
        paper: "Smilkov et al., SmoothGrad: removing noise by adding noise, 2017",
        url: "https://arxiv.org/abs/1706.03825",
    },
    Method {
        name: "Integrated Gradients",
        what: "Integrates the gradient along the straight path from a black baseline to the image and multiplies by the difference: signed attributions that add up to the score's change from the baseline.",
        paper: "Sundararajan et al., Axiomatic Attribution for Deep Networks, ICML 2017",
        url: "https://arxiv.org/abs/1703.01365",
    },
    Method {
        name: "Attention rollout",
        what: "For vision transformers: follows the attention from the class token back through every layer (each layer's attention averaged over heads, with the residual connection added) to the image patches. It shows what the class token gathered from, for every class alike. Grad-CAM also works on transformers here: their token layers are read on the patch grid, no reshape needed.",
        paper: "Abnar & Zuidema, Quantifying Attention Flow in Transformers, ACL 2020",
        url: "https://arxiv.org/abs/2005.00928",
    },
    Method {
        name: "Sanity checks",
        what: "Can I trust this map? Scrambles the model's weights from the top layer down and maps the image again: a map that barely changes shows the image, not what the model learned. Every map is also checked for NaN, blank, constant, saturated and class-independent results.",
        paper: "Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018",
        url: "https://arxiv.org/abs/1810.03292",
    },
    Method {
        name: "Deletion and insertion scores",
        what: "Remove the pixels a map ranks highest first (deletion: lower area is better) or reveal them onto a blurred image (insertion: higher is better), and measure the class probability along the way. They compare how faithful maps are.",
        paper: "Petsiuk et al., RISE: Randomized Input Sampling for Explanation of Black-box Models, BMVC 2018",
        url: "https://arxiv.org/abs/1806.07421",
    },
    Method {
        name: "Activations and maximally activating images",
        what: "A layer's channels as images, their value histograms, and the dataset images whose average activation of a channel is highest: what a channel responds to.",
        paper: "Erhan et al., Visualizing Higher-Layer Features of a Deep Network, 2009; Zeiler & Fergus 2014",
        url: "https://www.researchgate.net/publication/265022827",
    },
    Method {
        name: "Deep dream",
        what: "Gradient ascent on the input, from noise, to make a channel fire strongly (with jitter and smoothing), showing the pattern it looks for.",
        paper: "Mordvintsev, Olah & Tyka, Inceptionism: Going Deeper into Neural Networks, 2015",
        url: "https://research.google/blog/inceptionism-going-deeper-into-neural-networks/",
    },
    Method {
        name: "t-SNE",
        what: "Places each image as a point so that images with similar activations at the chosen layer sit close together; classes that the layer separates form clusters. Exact up to 2,000 points, Barnes-Hut above.",
        paper: "van der Maaten & Hinton, Visualizing Data using t-SNE, JMLR 2008; van der Maaten, Accelerating t-SNE using Tree-Based Algorithms, JMLR 2014",
        url: "https://jmlr.org/papers/v9/vandermaaten08a.html",
    },
    Method {
        name: "UMAP",
        what: "Like t-SNE, keeps each image's neighbours close (its 15 nearest by activation, weighted by a fuzzy graph), but faster on large sets; umap-learn's defaults. PCA, the third choice, projects on the two directions of largest variance: instant and linear.",
        paper: "McInnes, Healy & Melville, UMAP: Uniform Manifold Approximation and Projection for Dimension Reduction, 2018",
        url: "https://arxiv.org/abs/1802.03426",
    },
    Method {
        name: "McNemar's test",
        what: "Compares two models on the same images (Compare): only the images they disagree on count; if the models were equally good, each would go either way with probability one half. The exact two-sided binomial p-value says how surprising the split is.",
        paper: "McNemar, Note on the sampling error of the difference between correlated proportions or percentages, Psychometrika 1947",
        url: "https://doi.org/10.1007/BF02295996",
    },
];

#[component]
pub fn HelpView() -> impl IntoView {
    view! {
        <section class="panel" id="help-view">
            <h2>"Help"</h2>
            <p>
                "Open an ONNX image classifier (Model), set the preprocessing it was trained with, and open a folder of images with one subfolder per class (Image data). "
                "Accuracy shows how the network does on them; click a confusion-matrix cell, a row or a column to see those images, and an image to predict and explain it. "
                "Nothing leaves your machine: the network runs in this page, on your GPU (WebGPU) or CPU."
            </p>
            <dl class="methods">
                {METHODS
                    .iter()
                    .map(|m| {
                        view! {
                            <dt>{m.name}</dt>
                            <dd>
                                {m.what}
                                <br />
                                <a href=m.url target="_blank" rel="noopener">{m.paper}</a>
                            </dd>
                        }
                    })
                    .collect_view()}
            </dl>
        </section>
    }
}
