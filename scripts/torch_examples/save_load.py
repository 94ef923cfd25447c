# PyTorch twin of examples/save_load.rs: the tutorial's NeuralNetwork(2, 2), trained
# briefly, saved with torch.save, loaded into a fresh model with torch.load.
import torch
import torch.nn as nn
import torch.nn.functional as F


class NeuralNetwork(nn.Module):
    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.layers = nn.Sequential(
            # 1st hidden layer
            nn.Linear(num_inputs, 30),
            nn.ReLU(),
            # 2nd hidden layer
            nn.Linear(30, 20),
            nn.ReLU(),
            # Output layer
            nn.Linear(20, num_outputs),
        )

    def forward(self, x):
        logits = self.layers(x)
        return logits


X_train = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
y_train = torch.tensor([0, 0, 0, 1, 1])

torch.manual_seed(123)
model = NeuralNetwork(num_inputs=2, num_outputs=2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)

num_epochs = 3
for epoch in range(num_epochs):
    model.train()
    logits = model(X_train)
    loss = F.cross_entropy(logits, y_train)  # Loss function

    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

    print(f"Epoch: {epoch+1:03d}/{num_epochs:03d} | Train Loss: {loss:.2f}")

model.eval()
torch.save(model.state_dict(), "model.pth")

model2 = NeuralNetwork(2, 2)
model2.load_state_dict(torch.load("model.pth"))
model2.eval()
with torch.no_grad():
    out = model(X_train)
    out2 = model2(X_train)
print(out2)
print("输出相同:", torch.equal(out, out2))
print("预测:", torch.argmax(out2, dim=1))
