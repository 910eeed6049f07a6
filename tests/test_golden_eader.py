"""Golden tests: EADER's attention normalisation, soft mask, erasing and loss terms against the official code.

ErikStammes/EADER @ 9d81e40a76e576ce33c0df29df6c06843b70d5d3. The expected values were printed once by
the official code in a scratch copy under /tmp (never in this repo): attention_map_wrapper.py (whole
file, verbatim) wrapped around a torchvision-ResNet-shaped stub (models/load_models.py:71-72:
features_layer 'layer4', weights_layer 'fc.weight'), whose layer4 is stub_features (tests/golden_stubs.py;
times a parameter fixed at 1.0 so that its output has a graph, as a real layer4's has) followed by a
global average pool and an nn.Linear(6, 20) with weight head_weight() and bias linspace(-1, 1, 20);
utils.py:22-27 (gcam_to_mask, omega 100, sigma 0.5; erase_mask) and training_utils.py:39-47
(compute_am_loss, compute_regularization_loss). Input: eader_images() below, labels image 0 {2, 14},
image 1 {7}; model.train(); output, (cams, ...) = model(images, labels) for attention_type 'cam' and
'gcam'; printed with 8 significant digits.

Tolerances: an attention value is a 4-tap bilinear resize of the raw map, a shift and a division
(about 7 roundings of unit roundoff 6e-8 relative to 1; Grad-CAM adds the gradient's sums): atol 1e-6.
The soft mask's slope is at most omega / 4 = 25, so masks and erased pixels (|x| <= 1 in channel 0)
get atol 3e-5.
"""

import numpy as np
import pytest
import torch

from golden_stubs import head_weight, stub_features
from wsss.methods.eader import (attention_mining_loss, erase, labelled_pairs, normalised_attention,
                                pair_class_maps, soft_mask)

torch.set_num_threads(2)


def eader_images():
    """(2, 3, 8, 10): sin(0.9 h + 0.04 w^2 + 1.7 c + 2.3 n) (1 + 0.5 c)."""
    n, c, h, w = torch.meshgrid(torch.arange(2.0), torch.arange(3.0), torch.arange(8.0), torch.arange(10.0),
                                indexing="ij")
    return torch.sin(0.9 * h + 0.4 * w * w / 10 + 1.7 * c + 2.3 * n) * (1 + 0.5 * c)


def eader_labels():
    labels = torch.zeros(2, 20)
    labels[0, 2] = labels[0, 14] = labels[1, 7] = 1
    return labels


# attention_map_wrapper.py:86-117 ('cam': matmul of fc.weight[target] with the layer4 features, no ReLU,
# bilinear to the image, then cam -= min; cam /= max unless 0), pairs in labels.nonzero() order
# (image 0 class 2, image 0 class 14, image 1 class 7): cams[:, 0]
CAM_ATTENTION = np.array([
    0.67801714, 0.71463114, 0.7878592, 0.87656796, 0.98075736, 1, 0.93429595, 0.75221604, 0.4537605, 0.30453268,
    0.72414684, 0.74398565, 0.78366333, 0.82364911, 0.86394304, 0.83533406, 0.73782212, 0.56755507, 0.32453287,
    0.20302179, 0.81640619, 0.80269456, 0.77527142, 0.71781141, 0.63031447, 0.50600219, 0.34487441, 0.19823292,
    0.066077627, 0, 0.64786875, 0.62089282, 0.56694096, 0.47848338, 0.35552016, 0.23396994, 0.11383261, 0.069761395,
    0.1017563, 0.11775374, 0.21853438, 0.19858013, 0.15867162, 0.10566497, 0.039560162, 0.019237362, 0.044696614,
    0.18214045, 0.43156892, 0.55628312, 0.028088778, 0.024593579, 0.017603142, 0.023535157, 0.042389583, 0.11362216,
    0.23723286, 0.41672611, 0.65210187, 0.76978981, 0.076531917, 0.098933101, 0.14373542, 0.2320939, 0.36400849,
    0.5171243, 0.69144136, 0.77351832, 0.76335537, 0.7582739, 0.10075347, 0.13610286, 0.20680158, 0.33637327,
    0.52481794, 0.71887535, 0.91854554, 0.95191449, 0.81898206, 0.75251591, 0.28132963, 0.24837914, 0.18247813,
    0.10386688, 0.012545357, 0, 0.066230848, 0.25353232, 0.56190443, 0.71609044, 0.24503832, 0.22786209, 0.19350965,
    0.16171376, 0.13247435, 0.16881575, 0.27073795, 0.44377139, 0.68791592, 0.80998826, 0.17245564, 0.18682799,
    0.21557266, 0.27740741, 0.37233216, 0.50644708, 0.67975217, 0.82424951, 0.93993908, 0.99778384, 0.36257681,
    0.38916159, 0.44233111, 0.53060091, 0.65397102, 0.777776, 0.90201586, 0.94001031, 0.89175934, 0.86763388,
    0.81540179, 0.83486283, 0.87378484, 0.92129427, 0.97739094, 0.98280251, 0.93752903, 0.79105383, 0.54337674,
    0.41953823, 0.99135321, 0.99423546, 1, 0.98886937, 0.96084356, 0.8757894, 0.73370683, 0.5491401, 0.32208928,
    0.20856394, 0.89043111, 0.86727953, 0.82097638, 0.73332626, 0.60432905, 0.45673668, 0.29054919, 0.21426928,
    0.22789696, 0.2347108, 0.83997005, 0.8038016, 0.73146462, 0.6055547, 0.42607179, 0.24721031, 0.068970338,
    0.046833888, 0.18080075, 0.24778424, 0.61790717, 0.59093076, 0.53697801, 0.45831779, 0.35495004, 0.24239914,
    0.12066505, 0.051710539, 0.035535641, 0.027448175, 0.47023705, 0.446933, 0.40032491, 0.33643845, 0.25527361,
    0.1899557, 0.14048469, 0.1514872, 0.2229632, 0.25870121, 0.17489687, 0.15893747, 0.12701868, 0.092679761,
    0.055920698, 0.085068792, 0.18012401, 0.35104054, 0.59781832, 0.72120726, 0.1077719, 0.10915649, 0.11192568,
    0.12995918, 0.16325702, 0.25089824, 0.39288285, 0.56015277, 0.75270802, 0.84898561, 0.26886213, 0.29759002,
    0.35504588, 0.4482767, 0.57728255, 0.68744415, 0.77876121, 0.77882391, 0.6876322, 0.64203626, 0.5120554,
    0.53857678, 0.59161937, 0.66841882, 0.76897508, 0.8220067, 0.82751369, 0.72368073, 0.51050776, 0.40392122,
    0.8373518, 0.83211666, 0.82164633, 0.79038566, 0.73833454, 0.65458608, 0.5391404, 0.3947233, 0.2213347,
    0.13464041, 1, 0.9788866, 0.93665993, 0.85136908, 0.72301424, 0.57087582, 0.39495373, 0.23024455, 0.076748192, 0
], np.float32).reshape(3, 8, 10)
# attention_map_wrapper.py:57-70, 118-159 ('gcam': ReLU(sum of features x pooled gradients of the logits),
# bilinear, min-max), pairs in the wrapper's order (image 0 class 2, image 1 class 7, image 0 class 14)
GCAM_ATTENTION = np.array([
    0.55048567, 0.60160184, 0.70383418, 0.82767874, 0.97313565, 1, 0.90827179, 0.65407348, 0.23740509, 0.029070884,
    0.61488646, 0.64258301, 0.69797635, 0.75379974, 0.81005341, 0.79033661, 0.6946494, 0.49055514, 0.17805381,
    0.021803163, 0.74368805, 0.72454554, 0.68626058, 0.60604167, 0.48388883, 0.37100977, 0.26740453, 0.16351837,
    0.059351273, 0.007267721, 0.60606658, 0.57414508, 0.51030207, 0.39912203, 0.24060491, 0.12100977, 0.04033659,
    0.042915408, 0.12874621, 0.17166163, 0.20202219, 0.19138169, 0.17010069, 0.13304067, 0.080201641, 0.04033659,
    0.01344553, 0.12874621, 0.38623863, 0.51498485, 0, 0, 0, 0.02925932, 0.087777957, 0.15188177, 0.22157075,
    0.36196336, 0.57305968, 0.67860782, 0, 0, 0, 0.087777957, 0.26333389, 0.45564532, 0.66471219, 0.74256688,
    0.6892094, 0.66253066, 0, 0, 0, 0.11703728, 0.35111183, 0.60752708, 0.88628292, 0.93286866, 0.74728429,
    0.65449202, 0.47716418, 0.44025111, 0.36642501, 0.25879043, 0.11734748, 0.034969486, 0.011656496, 0, 0, 0,
    0.35787314, 0.33018833, 0.27481878, 0.19409285, 0.088010602, 0.027459597, 0.012439821, 0.06213177, 0.17653546,
    0.23373728, 0.11929104, 0.11006278, 0.091606252, 0.064697608, 0.02933687, 0.012439821, 0.01400647, 0.18639532,
    0.52960634, 0.70121187, 0.027440768, 0.041945104, 0.070953779, 0.11570883, 0.17621027, 0.22144447, 0.25141141,
    0.39813614, 0.66161853, 0.79335982, 0.082322299, 0.12583531, 0.21286133, 0.34712648, 0.52863079, 0.65447354,
    0.72465467, 0.69735426, 0.57257223, 0.51018119, 0.3323223, 0.36861271, 0.44119346, 0.54628175, 0.68387765,
    0.75644332, 0.76397884, 0.64492095, 0.39926958, 0.27644393, 0.77744079, 0.7702772, 0.75595021, 0.71317476,
    0.64195067, 0.5273537, 0.3693839, 0.24083622, 0.14171073, 0.092147969, 1, 0.97110957, 0.91332865, 0.7966212,
    0.62098724, 0.41280898, 0.17208645, 0.038793869, 0.01293129, 0, 0, 0, 0, 0, 0, 0, 0, 0.026438082, 0.079314247,
    0.10575233, 0, 0, 0, 0, 0, 0.055911638, 0.16773492, 0.26208526, 0.33896264, 0.37740135, 0, 0, 0, 0, 0,
    0.16773492, 0.5032047, 0.73337954, 0.85825944, 0.92069936, 0.2620202, 0.27351943, 0.29651779, 0.31613913,
    0.33238345, 0.46121791, 0.70264244, 0.84108132, 0.87653464, 0.8942613, 0.78606063, 0.82055825, 0.88955337,
    0.94841743, 0.99715042, 0.9363606, 0.76604807, 0.58519059, 0.39378828, 0.29808709, 0.9020955, 0.91043401,
    0.92711097, 0.95696628, 1, 0.880449, 0.59831321, 0.34293395, 0.11431132, 0, 0.61012501, 0.54314685, 0.40919054,
    0.3417857, 0.34093234, 0.29348299, 0.19943774, 0.11431132, 0.03810377, 0, 0.46413967, 0.35950327, 0.15023035,
    0.034195427, 0.011398476, 0, 0, 0, 0, 0
], np.float32).reshape(3, 8, 10)
GCAM_TO_OURS = [0, 2, 1]  # the official Grad-CAM pairs in labelled_pairs order

# utils.py:22-24 gcam_to_mask(cams) (sigmoid(100 (A - 0.5))), row 3 of each pair's mask
CAM_MASK_ROW3 = np.array([
    0.99999964, 0.9999944, 0.99876332, 0.10417601, 5.3127593e-07, 2.7955054e-12, 1.6941911e-17, 2.0652594e-19,
    5.0640183e-18, 2.5075896e-17, 1.0759353e-06, 1.5358266e-05, 0.0031197134, 0.95521617, 0.99999976, 1, 1, 1, 1, 1,
    9.2416721e-18, 1.0614077e-17, 1.4000563e-17, 8.4982888e-17, 2.3737603e-15, 1.5193166e-11, 2.2281874e-05,
    0.99756479, 1, 1
], np.float32).reshape(3, 10)
GCAM_MASK_ROW3 = np.array([
    0.9999752, 0.99939787, 0.736956, 4.1582181e-05, 5.4276848e-12, 3.4726627e-17, 1.0891079e-20, 1.4095125e-20,
    7.5275447e-17, 5.501039e-15, 2.9992513e-21, 1.2791723e-20, 2.326804e-19, 2.0438419e-17, 8.6694491e-15,
    7.9889193e-13, 1.599316e-11, 3.7678394e-05, 0.99999988, 1, 4.6202864e-11, 1.4590609e-10, 1.4550569e-09,
    1.0351986e-08, 5.2541949e-08, 0.02026853, 1, 1, 1, 1
], np.float32).reshape(3, 10)
# training_utils.py:46-47 compute_regularization_loss(cams): the mean attention (train.py:171)
CAM_AREA, GCAM_AREA = 0.47865647077560425, 0.3603798747062683
# utils.py:26-27 erase_mask(image 0, mask of its pair with class 2), channel 0, row 3 (train.py:178)
CAM_ERASED_ROW3 = np.array([
    1.5284301e-07, 2.1900648e-06, 0.00034365532, 0.073011637, -0.19710775, -0.529836, -0.84060931, -0.99862802,
    -0.85377091, -0.33648831
], np.float32).reshape(10,)
GCAM_ERASED_ROW3 = np.array([
    1.0597116e-05, 0.00023536207, 0.073096253, 0.081498817, -0.19710785, -0.529836, -0.84060931, -0.99862802,
    -0.85377091, -0.33648831
], np.float32).reshape(10,)
# training_utils.py:39-44 compute_am_loss(sigmoid(linspace(-2, 2, 60).view(3, 20)), targets [2, 7, 14])
MINING = 0.47743096947669983


def our_attention(method, normalisation):
    """(N, 1, 8, 10) attention of the golden pairs, in labelled_pairs order."""
    images, labels = eader_images(), eader_labels()
    features = stub_features(images).requires_grad_(True)  # Grad-CAM differentiates the logits by them
    cams = torch.nn.functional.conv2d(features, head_weight())
    image_index, class_index = labelled_pairs(labels)
    assert image_index.tolist() == [0, 0, 1] and class_index.tolist() == [2, 14, 7]
    maps = pair_class_maps(features, cams, cams.mean((2, 3)), image_index, class_index, method)
    return normalised_attention(maps, images.shape[-2:], normalisation).detach()


@pytest.mark.parametrize("method,golden,order", [("cam", CAM_ATTENTION, [0, 1, 2]),
                                                 ("gradcam", GCAM_ATTENTION, GCAM_TO_OURS)])
def test_min_max_normalisation_is_eaders_attention(method, golden, order):
    """classifier.eader.normalisation min_max: resize the raw map, then min-max (EADER's order)."""
    attention = our_attention(method, "min_max")
    np.testing.assert_allclose(attention[:, 0].numpy(), golden[order], rtol=0, atol=1e-6)


@pytest.mark.parametrize("method,golden,order", [("cam", CAM_ATTENTION, [0, 1, 2]),
                                                 ("gradcam", GCAM_ATTENTION, GCAM_TO_OURS)])
def test_relu_max_normalisation_is_not_eaders(method, golden, order):
    """The default (ReLU, divide by the max, then resize) is another map: the setting matters."""
    attention = our_attention(method, "relu_max")
    assert np.abs(attention[:, 0].numpy() - golden[order]).max() > 0.1


@pytest.mark.parametrize("method,mask_row,area,erased_row,order", [
    ("cam", CAM_MASK_ROW3, CAM_AREA, CAM_ERASED_ROW3, [0, 1, 2]),
    ("gradcam", GCAM_MASK_ROW3, GCAM_AREA, GCAM_ERASED_ROW3, GCAM_TO_OURS)])
def test_soft_mask_area_and_erasing_match_eaders_training_loop(method, mask_row, area, erased_row, order):
    """sigmoid(omega (A - sigma)) with omega 100, sigma 0.5; mean(A); x (1 - M) on the normalised image."""
    attention = our_attention(method, "min_max")
    mask = soft_mask(attention, omega=100.0, sigma=0.5)
    np.testing.assert_allclose(mask[:, 0, 3].numpy(), mask_row[order], rtol=0, atol=3e-5)
    assert attention.mean().item() == pytest.approx(area, abs=1e-6)
    erased = erase(eader_images()[[0]], mask[[0]])  # pair 0: image 0, class 2, in both orders
    np.testing.assert_allclose(erased[0, 0, 3].numpy(), erased_row, rtol=0, atol=3e-5)


def test_attention_mining_loss_is_eaders():
    """The mean adversary sigmoid probability of each erased pair's class."""
    logits = torch.linspace(-2, 2, 60).view(3, 20)
    assert attention_mining_loss(logits, torch.tensor([2, 7, 14])).item() == pytest.approx(MINING, abs=1e-7)
