"""The lecture's MNIST convnet, as a student writes it from the slides.

Conv2D(32) -> MaxPooling -> Conv2D(64) -> MaxPooling -> Conv2D(64) -> Flatten ->
Dense(64) -> Dense(10, softmax), RMSprop, 5 epochs of 64, validated on the test set.
"""

from _timing import arguments, epoch_timer, use_local_files, write_report

args = arguments(epochs=5, batch_size=64)

import keras
from keras import layers
from keras.datasets import mnist
from keras.utils import to_categorical

use_local_files(args.data_dir)
keras.utils.set_random_seed(args.seed)
(train_images, train_labels), (test_images, test_labels) = mnist.load_data()
train_images, train_labels = train_images[: args.limit], train_labels[: args.limit]
test_images, test_labels = test_images[: args.limit], test_labels[: args.limit]
train_images = train_images.reshape((-1, 28, 28, 1)).astype("float32") / 255
test_images = test_images.reshape((-1, 28, 28, 1)).astype("float32") / 255
train_labels, test_labels = to_categorical(train_labels), to_categorical(test_labels)

model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, (3, 3), activation="relu"),
    layers.MaxPooling2D((2, 2)),
    layers.Conv2D(64, (3, 3), activation="relu"),
    layers.MaxPooling2D((2, 2)),
    layers.Conv2D(64, (3, 3), activation="relu"),
    layers.Flatten(),
    layers.Dense(64, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
timer = epoch_timer(keras)
history = model.fit(
    train_images, train_labels, epochs=args.epochs, batch_size=args.batch_size,
    validation_data=(test_images, test_labels), callbacks=[timer], verbose=2,
)
write_report(args.report, timer, history)
