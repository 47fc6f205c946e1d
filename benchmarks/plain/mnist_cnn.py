"""The lecture's MNIST convnet, as a student writes it from the slides.

Conv2D(32) -> MaxPooling -> Conv2D(64) -> MaxPooling -> Conv2D(64) -> Flatten ->
Dense(64) -> Dense(10, softmax), RMSprop, 5 epochs of 64, validated on the test set;
then the test accuracy and the curves, as after the lecture's fit.
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
test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
print("test_acc:", test_acc)

# The curves the lecture plots after training (saved, as there is no screen here).
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

acc, val_acc = history.history["accuracy"], history.history["val_accuracy"]
loss, val_loss = history.history["loss"], history.history["val_loss"]
epochs = range(1, len(acc) + 1)
plt.plot(epochs, acc, "bo", label="Training acc")
plt.plot(epochs, val_acc, "b", label="Validation acc")
plt.title("Training and validation accuracy")
plt.legend()
plt.savefig(args.report + ".accuracy.png")
plt.figure()
plt.plot(epochs, loss, "bo", label="Training loss")
plt.plot(epochs, val_loss, "b", label="Validation loss")
plt.title("Training and validation loss")
plt.legend()
plt.savefig(args.report + ".loss.png")
