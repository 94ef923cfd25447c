# Seed 003: a 784-to-10 network, CrossEntropyLoss and one SGD step.
import torch
import torch.nn as nn
import torch.optim as optim

torch.manual_seed(0)


class SimpleNN(nn.Module):
    def __init__(self):
        super(SimpleNN, self).__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x)


model = SimpleNN()
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(1, 784)
y_true = torch.tensor([3])
y_pred = model(x)
loss = criterion(y_pred, y_true)
loss.backward()
optimizer.step()
optimizer.zero_grad()
print(model)
print(f"Loss: {loss.item():.4f}")
print(f"Loss after the step: {criterion(model(x), y_true).item():.4f}")
