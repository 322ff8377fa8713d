"""A tiny LSTM language model printing exactly as the PyTorch examples' word_language_model does
(its print formats copied), on synthetic tokens made here: a script with no trainwatch in it."""
import math
import time

import torch
from torch import nn

EPOCHS, BPTT, LOG_INTERVAL, VOCAB = 3, 16, 10, 50
torch.manual_seed(0)
# A "language": each token mostly follows from the one before.
table = torch.randint(0, VOCAB, (VOCAB,))
tokens = [0]
for _ in range(6000):
    tokens.append(int(table[tokens[-1]]) if torch.rand(1).item() < 0.8 else int(torch.randint(0, VOCAB, (1,))))
data = torch.tensor(tokens)
train_data, val_data, test_data = data[:4800], data[4800:5400], data[5400:]


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.rnn, self.out = nn.Embedding(VOCAB, 32), nn.LSTM(32, 64), nn.Linear(64, VOCAB)

    def forward(self, x):
        return self.out(self.rnn(self.embed(x))[0])


def evaluate(model, source):
    model.eval()
    with torch.no_grad():
        losses = [nn.functional.cross_entropy(model(source[i:i + BPTT].unsqueeze(1)).squeeze(1), source[i + 1:i + 1 + BPTT])
                  for i in range(0, len(source) - BPTT - 1, BPTT)]
    return sum(loss.item() for loss in losses) / len(losses)


model, lr = Model(), 2.0
batches = (len(train_data) - 1) // BPTT
for epoch in range(1, EPOCHS + 1):
    epoch_start_time, start_time, total_loss = time.time(), time.time(), 0.0
    model.train()
    for batch, i in enumerate(range(0, len(train_data) - BPTT - 1, BPTT), 1):
        output = model(train_data[i:i + BPTT].unsqueeze(1)).squeeze(1)
        loss = nn.functional.cross_entropy(output, train_data[i + 1:i + 1 + BPTT])
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
        if batch % LOG_INTERVAL == 0:
            cur_loss, elapsed = total_loss / LOG_INTERVAL, time.time() - start_time
            print('| epoch {:3d} | {:5d}/{:5d} batches | lr {:02.2f} | ms/batch {:5.2f} | loss {:5.2f} | ppl {:8.2f}'.format(
                epoch, batch, batches, lr, elapsed * 1000 / LOG_INTERVAL, cur_loss, math.exp(cur_loss)), flush=True)
            total_loss, start_time = 0.0, time.time()
    val_loss = evaluate(model, val_data)
    print('-' * 89)
    print('| end of epoch {:3d} | time: {:5.2f}s | valid loss {:5.2f} | valid ppl {:8.2f}'.format(
        epoch, (time.time() - epoch_start_time), val_loss, math.exp(val_loss)))
    print('-' * 89, flush=True)
test_loss = evaluate(model, test_data)
print('=' * 89)
print('| End of training | test loss {:5.2f} | test ppl {:8.2f}'.format(test_loss, math.exp(test_loss)))
print('=' * 89)
