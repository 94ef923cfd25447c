# PyTorch twin of examples/perceptron_and.rs (the tutorial's perceptron, seeded).
import torch

torch.manual_seed(42)


class Perceptron:
    """感知机"""

    def __init__(self, input_size):
        # 随机初始化权重和偏置
        self.weights = torch.randn(input_size)
        self.bias = torch.randn(1)

    def forward(self, x):
        """前向传播"""
        # 加权求和
        z = torch.dot(x, self.weights) + self.bias
        # 阶跃激活函数
        return 1 if z > 0 else 0

    def train(self, X, y, epochs=100, lr=0.1):
        """训练"""
        for epoch in range(epochs):
            errors = 0
            for xi, yi in zip(X, y):
                prediction = self.forward(xi)
                error = yi - prediction
                if error != 0:
                    # 更新权重
                    self.weights += lr * error * xi
                    self.bias += lr * error
                    errors += 1
            if errors == 0:
                print(f"Epoch {epoch}: 收敛!")
                break


# 示例:学习 AND 门
X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
y = torch.tensor([0, 0, 0, 1])  # AND 门的输出

perceptron = Perceptron(2)
perceptron.train(X, y)

print("\nAND 门测试:")
for xi in X:
    print(f"  {xi.tolist()} -> {perceptron.forward(xi)}")
print("权重:", perceptron.weights)
print("偏置:", perceptron.bias)
