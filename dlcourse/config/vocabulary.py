"""What a config may name: the Keras layers, losses, metrics, optimizers and callbacks
dlcourse supports, and the reason each refused one is refused.

Configs are data. A name here only ever selects a Keras class to build with plain
values; nothing a config names may load files, run code or wrap another framework.
"""

from __future__ import annotations

# Layers a Sequential model of the lecture's kind can stack, by family.
SUPPORTED_LAYERS = frozenset(
    {
        # core
        "Dense", "Activation", "Embedding", "Masking", "Identity",
        # convolution
        "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
        "Convolution1D", "Convolution2D", "Convolution3D", "SeparableConv1D",
        "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D",
        "DepthwiseConv1D", "DepthwiseConv2D",
        # pooling
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
        "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
        "AvgPool1D", "AvgPool2D", "AvgPool3D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
        "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
        # normalization and regularization
        "BatchNormalization", "LayerNormalization", "GroupNormalization",
        "UnitNormalization", "RMSNormalization",
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
        # reshaping
        "Flatten", "Reshape", "Permute", "RepeatVector",
        "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
        "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
        # recurrent
        "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed",
        "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
        # activations as layers
        "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
        # image preprocessing and augmentation inside the model
        "Rescaling", "Resizing", "CenterCrop", "RandomCrop", "RandomFlip", "RandomRotation",
        "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness",
        # dlcourse's own (dlcourse/layers.py)
        "NaiveBayesBag",
    }
)

# Arguments whose value is itself a layer spec.
WRAPPER_ARGUMENTS = ("layer", "backward_layer")

_CODE = ("runs a Python function, and a config is data: it can't hold code. Write the "
         "computation with the layers dlcourse supports")
_FOREIGN = ("wraps another framework's code, which a config can't name safely; dlcourse "
            "builds Keras layers only")
_BUILDING_BLOCK = ("is a building block for Python code, not a layer a config can stack")
_VOCABULARY = ("is data preparation that can read a vocabulary or statistics from a file; "
               "dlcourse prepares data in the data section (data.vectorize for text)")
_SEVERAL_INPUTS = ("takes several inputs, and a Sequential model passes one tensor from "
                   "layer to layer")

# Keras layers that configs may not name, and why.
REFUSED_LAYERS = {
    "TFSMLayer": "loads and runs a SavedModel from a path, so a config could run any "
                 "TensorFlow graph",
    "Lambda": _CODE,
    "TorchModuleWrapper": _FOREIGN,
    "JaxLayer": _FOREIGN,
    "FlaxLayer": _FOREIGN,
    "Layer": _BUILDING_BLOCK,
    "Wrapper": _BUILDING_BLOCK,
    "RNN": _BUILDING_BLOCK + " (use SimpleRNN, LSTM or GRU)",
    "StackedRNNCells": _BUILDING_BLOCK + " (stack SimpleRNN, LSTM or GRU layers instead)",
    "SimpleRNNCell": _BUILDING_BLOCK + " (use SimpleRNN)",
    "LSTMCell": _BUILDING_BLOCK + " (use LSTM)",
    "GRUCell": _BUILDING_BLOCK + " (use GRU)",
    "Pipeline": _BUILDING_BLOCK,
    "InputSpec": _BUILDING_BLOCK,
    "Input": "is added by dlcourse itself, shaped by the data",
    "InputLayer": "is added by dlcourse itself, shaped by the data",
    "StringLookup": _VOCABULARY,
    "IntegerLookup": _VOCABULARY,
    "TextVectorization": _VOCABULARY,
    "Hashing": _VOCABULARY,
    "HashedCrossing": _VOCABULARY,
    "CategoryEncoding": _VOCABULARY,
    "Discretization": _VOCABULARY,
    "Normalization": _VOCABULARY,
    **{name: _SEVERAL_INPUTS for name in (
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
        "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention",
    )},
}

# Callbacks a config may list under fit.callbacks, and what dlcourse does instead of the
# ones that write files or run code.
SUPPORTED_CALLBACKS = frozenset({"EarlyStopping", "ReduceLROnPlateau", "TerminateOnNaN"})
REFUSED_CALLBACKS = {
    "ModelCheckpoint": "dlcourse saves the model itself (model.keras, the restored best "
                       "epoch with EarlyStopping's restore_best_weights)",
    "BackupAndRestore": "every dlcourse run keeps a backup and resumes with "
                        "`dlcourse train --resume RUN_DIR`",
    "OrbaxCheckpoint": "every dlcourse run keeps a backup and resumes with "
                       "`dlcourse train --resume RUN_DIR`",
    "CSVLogger": "every run writes history.json and history.csv",
    "TensorBoard": "set output.tensorboard: true (or --tensorboard) for logs in the run",
    "LambdaCallback": "a config can't hold code",
    "LearningRateScheduler": "it takes a Python function; use a schedule in "
                             "compile.optimizer.learning_rate",
    "RemoteMonitor": "a config can't send data over the network",
    "ProgbarLogger": "dlcourse prints Keras's progress itself",
    "History": "every run records its history",
    "Callback": "it is a base class for Python code",
    "CallbackList": "it is a building block for Python code",
    "SwapEMAWeights": "it needs use_ema on the optimizer and is not supported",
}

# Where a callback's default misstates what it takes: EarlyStopping's min_delta defaults
# to the integer 0 and its baseline to None, yet both are any number.
CALLBACK_ARGUMENT_KINDS = {
    "EarlyStopping": {
        "min_delta": {"default": 0, "kind": "number"},
        "baseline": {"nullable": True, "kind": "number"},
    },
}

# Metric names Keras's compile() resolves by itself, beside keras.metrics' own.
# ("crossentropy" and "ce" are short names of losses only: Keras 3's compile refuses them
# as metrics.)
COMPILE_METRIC_NAMES = ("accuracy", "acc")
# keras.losses/keras.metrics/keras.optimizers entries that are not usable by name.
NOT_BY_NAME = frozenset({
    "get", "serialize", "deserialize", "loss", "metric", "optimizer", "optimizermap",
    "mean_metric_wrapper", "loss_function_wrapper", "lossscaleoptimizer", "multioptimizer",
})
