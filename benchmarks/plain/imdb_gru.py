"""The lecture's IMDB GRU, as a student writes it from the slide.

Keras's own loader and pad_sequences, Embedding(10000, 32) -> GRU(32) -> Dense(1),
RMSprop, 10 epochs of 128 with 20% held out for validation; then the curves, as the
lecture plots them.
"""

from _timing import arguments, epoch_timer, use_local_files, write_report

args = arguments(epochs=10, batch_size=128)

import keras
from keras import layers
from keras.datasets import imdb
from keras.utils import pad_sequences

use_local_files(args.data_dir)
keras.utils.set_random_seed(args.seed)
max_features = 10000
(x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max_features)
x_train, y_train = x_train[: args.limit], y_train[: args.limit]
x_train = pad_sequences(x_train, maxlen=args.maxlen)

model = keras.Sequential([
    layers.Embedding(max_features, 32),
    layers.GRU(32),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
timer = epoch_timer(keras)
history = model.fit(
    x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
    validation_split=0.2, callbacks=[timer], verbose=2,
)
write_report(args.report, timer, history)

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
